//! Image folders: `root/train/<class>/*.png|jpg|jpeg` and `root/test/<class>/*`.
//!
//! Classes are the sub-directory names of `train/`, sorted; label = position in that list.
//! A test class missing from `train/` is an error. All images must share one size. If every
//! image is grayscale the set has 1 channel, otherwise 3 (grayscale images are replicated,
//! alpha is dropped). Files are read in sorted order; hidden files and other extensions are
//! skipped.
//!
//! The file identity of a split is one entry for the split directory: `bytes` is the total
//! size of its images and `sha256` hashes the manifest of `relative/path\t<sha256>\n`
//! lines (sorted), so any added, removed, renamed or changed image changes it without
//! listing thousands of files in every run record.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::files::read_hashed;
use crate::{Dataset, FileIdentity, ImageSet};

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

fn class_dirs(split: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !split.is_dir() {
        return Err(Error::NotFound {
            path: split.into(),
            hint: "an image folder needs train/<class>/ and test/<class>/ sub-directories".into(),
        });
    }
    Ok(sorted_entries(split)?
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), p))
        .collect())
}

struct Decoded {
    path: PathBuf,
    image: DynamicImage,
    label: i64,
}

/// Decodes every image of one split; returns them with the split's aggregate identity.
fn read_split(split: &Path, classes: &[String]) -> Result<(Vec<Decoded>, FileIdentity)> {
    let mut decoded = Vec::new();
    let mut manifest = Sha256::new();
    let mut total = 0u64;
    for (name, dir) in class_dirs(split)? {
        let label = classes.iter().position(|c| *c == name).ok_or_else(|| {
            Error::shape(&dir, format!("class `{name}` does not exist in the training split ({})", classes.join(", ")))
        })?;
        let before = decoded.len();
        for path in sorted_entries(&dir)? {
            let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
            if !path.is_file() || !EXTENSIONS.contains(&ext.as_str()) {
                continue;
            }
            let (bytes, id) = read_hashed(&path)?;
            let image = image::load_from_memory(&bytes)
                .map_err(|e| Error::format(&path, format!("cannot decode image: {e}")))?;
            let rel = path.strip_prefix(split).unwrap_or(&path);
            manifest.update(format!("{}\t{}\n", rel.display(), id.sha256).as_bytes());
            total += id.bytes;
            decoded.push(Decoded { path, image, label: label as i64 });
        }
        // An empty class folder would silently add an output class no sample belongs to.
        if decoded.len() == before {
            return Err(Error::NotFound {
                path: dir.clone(),
                hint: format!("class folder `{name}` holds no .png/.jpg/.jpeg images; add images or remove the folder"),
            });
        }
    }
    if decoded.is_empty() {
        return Err(Error::NotFound {
            path: split.into(),
            hint: format!("no .png/.jpg/.jpeg images in the class directories of {}", split.display()),
        });
    }
    let id = FileIdentity { path: split.display().to_string(), bytes: total, sha256: hex::encode(manifest.finalize()) };
    Ok((decoded, id))
}

fn to_set(decoded: &[Decoded], channels: usize, size: (u32, u32), num_classes: usize) -> Result<ImageSet> {
    let (w, h) = size;
    let plane = (w * h) as usize;
    let mut pixels = Vec::with_capacity(decoded.len() * channels * plane);
    for d in decoded {
        if (d.image.width(), d.image.height()) != size {
            return Err(Error::shape(
                &d.path,
                format!(
                    "image is {}x{} but the first image is {w}x{h}; all images must have one size",
                    d.image.width(),
                    d.image.height()
                ),
            ));
        }
        if channels == 1 {
            pixels.extend(d.image.to_luma8().as_raw().iter().map(|&v| v as f32 / 255.0));
        } else {
            let rgb = d.image.to_rgb8();
            let raw = rgb.as_raw();
            for c in 0..3 {
                pixels.extend((0..plane).map(|i| raw[i * 3 + c] as f32 / 255.0));
            }
        }
    }
    Ok(ImageSet {
        channels,
        height: h as usize,
        width: w as usize,
        pixels,
        labels: decoded.iter().map(|d| d.label).collect(),
        num_classes,
    })
}

/// Loads `root/train` and `root/test` (pixel_max 255; 16-bit images are reduced to 8 bits).
pub fn load_dir(root: &Path) -> Result<Dataset> {
    let classes: Vec<String> = class_dirs(&root.join("train"))?.into_iter().map(|(n, _)| n).collect();
    if classes.is_empty() {
        return Err(Error::NotFound { path: root.join("train"), hint: "no class sub-directories".into() });
    }
    let (train, train_id) = read_split(&root.join("train"), &classes)?;
    let (test, test_id) = read_split(&root.join("test"), &classes)?;
    let channels = if train.iter().chain(&test).any(|d| d.image.color().has_color()) { 3 } else { 1 };
    let size = (train[0].image.width(), train[0].image.height());
    let train = to_set(&train, channels, size, classes.len())?;
    let test = to_set(&test, channels, size, classes.len())?;
    Ok(Dataset {
        name: String::new(),
        train,
        test,
        pixel_max: 255.0,
        files: vec![train_id, test_id],
        class_names: Some(classes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, RgbImage};

    fn gray(dir: &Path, name: &str, w: u32, h: u32, seed: u8) -> Vec<u8> {
        std::fs::create_dir_all(dir).unwrap();
        let px: Vec<u8> = (0..w * h).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        GrayImage::from_raw(w, h, px.clone()).unwrap().save(dir.join(name)).unwrap();
        px
    }

    #[test]
    fn grayscale_folder_round_trips() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let a0 = gray(&r.join("train/cat"), "b.png", 3, 2, 1);
        let a1 = gray(&r.join("train/cat"), "a.png", 3, 2, 2);
        let b0 = gray(&r.join("train/ant"), "x.png", 3, 2, 3);
        std::fs::write(r.join("train/ant/notes.txt"), "ignored").unwrap();
        let c0 = gray(&r.join("test/cat"), "z.png", 3, 2, 4);
        let ds = load_dir(r).unwrap();
        assert_eq!(ds.class_names, Some(vec!["ant".to_string(), "cat".to_string()]));
        assert_eq!((ds.train.channels, ds.train.height, ds.train.width), (1, 2, 3));
        assert_eq!(ds.train.labels, vec![0, 1, 1]);
        assert_eq!(ds.test.labels, vec![1]);
        let back: Vec<u8> = ds.train.pixels.iter().map(|&v| (v * 255.0).round() as u8).collect();
        assert_eq!(back, [b0, a1, a0].concat()); // sorted: ant/x, cat/a, cat/b
        assert_eq!(ds.test.pixels[5], c0[5] as f32 / 255.0);
        assert_eq!(ds.files.len(), 2);
        assert_eq!(ds.files[0].sha256.len(), 64);
    }

    #[test]
    fn rgb_is_planar_and_mixed_sets_become_rgb() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("train/a")).unwrap();
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([10, 20, 30]));
        img.put_pixel(1, 0, image::Rgb([40, 50, 60]));
        img.save(r.join("train/a/rgb.png")).unwrap();
        gray(&r.join("test/a"), "g.png", 2, 1, 0);
        let ds = load_dir(r).unwrap();
        assert_eq!(ds.train.channels, 3);
        let back: Vec<u8> = ds.train.pixels.iter().map(|&v| (v * 255.0).round() as u8).collect();
        assert_eq!(back, vec![10, 40, 20, 50, 30, 60]);
        assert_eq!(ds.test.channels, 3);
        assert_eq!(ds.test.pixels[0..2], ds.test.pixels[2..4]); // gray replicated
    }

    #[test]
    fn inconsistent_folders_are_errors() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        gray(&r.join("train/a"), "1.png", 3, 3, 0);
        gray(&r.join("test/b"), "2.png", 3, 3, 0);
        let e = load_dir(r).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }) && e.to_string().contains("`b`"), "{e}");

        std::fs::remove_dir_all(r.join("test/b")).unwrap();
        gray(&r.join("test/a"), "odd.png", 4, 3, 0);
        let e = load_dir(r).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }) && e.to_string().contains("odd.png"), "{e}");

        std::fs::write(r.join("test/a/odd.png"), b"not a png").unwrap();
        let e = load_dir(r).unwrap_err();
        assert!(matches!(e, Error::Format { .. }) && e.to_string().contains("odd.png"), "{e}");

        std::fs::remove_dir_all(r.join("test")).unwrap();
        assert!(matches!(load_dir(r).unwrap_err(), Error::NotFound { .. }));
    }
}
