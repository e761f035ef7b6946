//! Fuzz-style property tests of every reader and spec parser in valley-data: arbitrary
//! bytes and mutations (truncation, bit flips, header edits) of valid files never panic;
//! each gives an error or a value that satisfies the reader's contract (labels in range,
//! pixels in [0, 1], pixel count = N·C·H·W). Cases are bounded so the file runs in a few
//! seconds in release.

use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use valley_data::cifar::{self, RecordLayout};
use valley_data::table::{self, LabelColumn};
use valley_data::{folder, idx, svhn, ImageSet, Normalisation, Partition};

/// A fixed seed keeps CI reproducible; change it locally to explore other inputs.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_0012),
        ..ProptestConfig::default()
    }
}

/// The contract every reader promises for what it returns.
fn check_set(set: &ImageSet) {
    assert_eq!(set.pixels.len(), set.len() * set.sample_len(), "pixel count must be N·C·H·W");
    assert!(set.labels.iter().all(|&l| l >= 0 && (l as usize) < set.num_classes), "labels in range");
    assert!(set.pixels.iter().all(|v| (0.0..=1.0).contains(v)), "pixels in [0, 1]");
}

/// A mutation of a valid file.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Append(Vec<u8>),
    /// Overwrites a 4-byte big-endian header word (IDX count/rows/cols).
    HeaderWord(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::SetByte(i, v)),
        proptest::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
        (0usize..4, prop_oneof![Just(0u32), Just(1), Just(u32::MAX), Just(1 << 31), any::<u32>()])
            .prop_map(|(w, v)| Mutation::HeaderWord(w, v)),
    ]
}

fn apply(bytes: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in ms {
        match m {
            Mutation::Truncate(n) => b.truncate(n % (b.len() + 1)),
            Mutation::FlipBit(i, bit) if !b.is_empty() => {
                let i = i % b.len();
                b[i] ^= 1 << bit;
            }
            Mutation::SetByte(i, v) if !b.is_empty() => {
                let i = i % b.len();
                b[i] = *v;
            }
            Mutation::Append(extra) => b.extend_from_slice(extra),
            Mutation::HeaderWord(w, v) => {
                let at = w * 4;
                if b.len() >= at + 4 {
                    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
                }
            }
            _ => {}
        }
    }
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [idx::IMAGES_MAGIC, n, rows, cols] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend((0..n * rows * cols).map(|i| (i * 37 % 256) as u8));
    v
}

fn idx_labels(n: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [idx::LABELS_MAGIC, n] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend((0..n).map(|i| (i % 10) as u8));
    v
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn idx_images_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(img) = idx::parse_images(Path::new("x"), &bytes) {
            prop_assert_eq!(img.data.len(), img.count * img.rows * img.cols);
        }
        let _ = idx::parse_labels(Path::new("x"), &bytes);
    }

    #[test]
    fn idx_mutations_never_panic(n in 1u32..5, rows in 1u32..5, cols in 1u32..5,
                                 ms in proptest::collection::vec(mutation(), 1..4)) {
        let images = apply(&idx_images(n, rows, cols), &ms);
        match idx::parse_images(Path::new("x"), &images) {
            Ok(img) => prop_assert_eq!(img.data.len(), img.count * img.rows * img.cols),
            Err(e) => prop_assert!(e.to_string().contains('x')),
        }
        let labels = apply(&idx_labels(n), &ms);
        if let Ok(l) = idx::parse_labels(Path::new("y"), &labels) {
            prop_assert!(l.iter().all(|&v| (0..10).contains(&v)));
        }
    }

    #[test]
    fn idx_pair_on_disk_gzipped_or_not_never_panics(n in 1u32..4, ms in proptest::collection::vec(mutation(), 0..3),
                                                     zip in any::<bool>(), zip_mutate in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let (mut images, labels) = (idx_images(n, 3, 2), idx_labels(n));
        if zip {
            images = gz(&images);
        }
        if zip_mutate || !zip {
            images = apply(&images, &ms);
        }
        let ip = write(dir.path(), "i", &images);
        let lp = write(dir.path(), "l", &labels);
        if let Ok((set, _)) = idx::read_pair(&ip, &lp) {
            check_set(&set);
        }
    }

    #[test]
    fn cifar_records_never_panic(records in 0usize..3, ms in proptest::collection::vec(mutation(), 0..3),
                                 hundred in any::<bool>()) {
        let layout: RecordLayout = if hundred { cifar::CIFAR100 } else { cifar::CIFAR10 };
        let rec = layout.record_bytes();
        let mut bytes = vec![0u8; records * rec];
        for r in 0..records {
            for (slot, &range) in layout.label_ranges.iter().enumerate() {
                bytes[r * rec + slot] = (r % range) as u8;
            }
        }
        let bytes = apply(&bytes, &ms);
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b.bin", &bytes);
        match cifar::read_files(&[p], layout) {
            Ok((set, _)) => { check_set(&set); prop_assert!(!set.is_empty()); }
            Err(e) => prop_assert!(e.to_string().contains("b.bin"), "{}", e),
        }
    }

    #[test]
    fn svhn_arbitrary_bytes_and_mutations_never_panic(ms in proptest::collection::vec(mutation(), 1..4),
                                                      compressed in any::<bool>(),
                                                      raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let fixture = if compressed { "svhn_tiny_compressed.mat" } else { "svhn_tiny_plain.mat" };
        let valid = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(fixture)).unwrap();
        for bytes in [apply(&valid, &ms), raw.clone(), [b"MATLAB 5.0 MAT-file".as_slice(), &raw].concat()] {
            match svhn::parse_mat(Path::new("s.mat"), &bytes) {
                Ok(set) => check_set(&set),
                Err(e) => prop_assert!(e.to_string().contains("s.mat"), "{}", e),
            }
        }
    }

    #[test]
    fn csv_arbitrary_text_never_panics(text in "[0-9a-z,.\\-\n ]{0,80}", first in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.csv", text.as_bytes());
        let col = if first { LabelColumn::First } else { LabelColumn::Last };
        if let Ok(t) = table::read_csv(&p, col) {
            prop_assert_eq!(t.values.len(), t.labels.len() * t.features);
            prop_assert!(t.values.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
    }

    #[test]
    fn csv_dir_mutations_never_panic(ms in proptest::collection::vec(mutation(), 1..4), which in 0usize..2,
                                     zip in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let valid = b"label,p0,p1,p2,p3\n0,0,1,2,3\n1,4,5,6,7\n2,255,0,0,9\n".to_vec();
        for (i, name) in ["train.csv", "test.csv"].into_iter().enumerate() {
            let mut bytes = if i == which { apply(&valid, &ms) } else { valid.clone() };
            if zip {
                bytes = gz(&bytes);
            }
            write(dir.path(), name, &bytes);
        }
        match valley_data::load(valley_data::DatasetKind::Csv, Some(dir.path())) {
            Ok(ds) => { check_set(&ds.train); check_set(&ds.test); }
            Err(e) => prop_assert!(e.to_string().contains(".csv"), "{}", e),
        }
    }

    #[test]
    fn partition_specs_parse_or_refuse(s in "(iid|dirichlet|shards|[a-z]{0,4})(:[-0-9.e]{0,6}|:nan|:inf)?") {
        if let Ok(p) = s.parse::<Partition>() {
            prop_assert_eq!(p.to_string().parse::<Partition>().unwrap(), p);
        }
    }

    #[test]
    fn partitions_cover_the_data_or_refuse(labels in proptest::collection::vec(0i64..6, 0..60), classes in 1usize..6,
                                           clients in 0usize..8, alpha in prop_oneof![Just(1e-300), Just(1e-3), 0.01f64..10.0],
                                           per in 1usize..4, scheme in 0u8..3, seed in any::<u64>()) {
        let scheme = match scheme { 0 => Partition::Iid, 1 => Partition::Dirichlet { alpha }, _ => Partition::Shards { per_client: per } };
        if let Ok(parts) = valley_data::partition(&labels, classes, clients, &scheme, seed) {
            let mut all: Vec<usize> = parts.concat();
            all.sort_unstable();
            prop_assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
            prop_assert_eq!(parts.len(), clients);
        }
    }

    #[test]
    fn subsets_and_splits_never_panic(labels in proptest::collection::vec(0i64..4, 0..40), limit in 0usize..60,
                                      fraction in prop_oneof![Just(f64::NAN), Just(-0.1), 0.0f64..=1.0], seed in any::<u64>()) {
        let set = ImageSet { channels: 1, height: 1, width: 1, pixels: vec![0.5; labels.len()], labels: labels.clone(), num_classes: 4 };
        let s = valley_data::stratified_subset(&set, limit, seed);
        prop_assert_eq!(s.len(), limit.min(labels.len()));
        if let Ok((train, test)) = valley_data::stratified_split(&labels, 4, fraction, seed) {
            prop_assert_eq!(train.len() + test.len(), labels.len());
        }
    }

    #[test]
    fn normalisation_refuses_zero_or_non_finite_std(std in prop_oneof![Just(0.0f32), Just(f32::NAN), Just(f32::INFINITY), Just(-1.0), 0.01f32..10.0],
                                                    mean in prop_oneof![Just(f32::NAN), -1.0f32..1.0]) {
        let mut set = ImageSet { channels: 1, height: 1, width: 2, pixels: vec![0.2, 0.4], labels: vec![0], num_classes: 2 };
        let n = Normalisation { mean: vec![mean], std: vec![std] };
        match n.apply(&mut set) {
            Ok(()) => prop_assert!(set.pixels.iter().all(|v| v.is_finite())),
            Err(e) => prop_assert!(e.to_string().contains("normalisation"), "{}", e),
        }
    }
}

/// Image folders: random trees of class folders, valid PNGs, mutated PNGs and junk.
#[derive(Clone, Debug)]
enum FileKind {
    Png(u32, u32, bool),
    MutatedPng(Vec<Mutation>),
    Junk(Vec<u8>),
}

fn file_kind() -> impl Strategy<Value = FileKind> {
    prop_oneof![
        3 => (1u32..4, 1u32..4, any::<bool>()).prop_map(|(w, h, rgb)| FileKind::Png(w, h, rgb)),
        2 => proptest::collection::vec(mutation(), 1..3).prop_map(FileKind::MutatedPng),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(FileKind::Junk),
    ]
}

fn png(w: u32, h: u32, rgb: bool) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let img = if rgb {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([x as u8 * 40, y as u8 * 40, 7])
        }))
    } else {
        image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |x, y| image::Luma([(x * 50 + y) as u8])))
    };
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn image_folders_never_panic(tree in proptest::collection::vec((0usize..2, 0usize..3, proptest::option::of(file_kind())), 0..8)) {
        let dir = tempfile::tempdir().unwrap();
        for (i, (split, class, file)) in tree.iter().enumerate() {
            let d = dir.path().join(["train", "test"][*split]).join(format!("c{class}"));
            std::fs::create_dir_all(&d).unwrap();
            let bytes = match file {
                None => continue, // an empty class folder
                Some(FileKind::Png(w, h, rgb)) => png(*w, *h, *rgb),
                Some(FileKind::MutatedPng(ms)) => apply(&png(2, 2, false), ms),
                Some(FileKind::Junk(b)) => b.clone(),
            };
            std::fs::write(d.join(format!("{i}.png")), bytes).unwrap();
        }
        match folder::load_dir(dir.path()) {
            Ok(ds) => {
                check_set(&ds.train);
                check_set(&ds.test);
                let names = ds.class_names.unwrap_or_default();
                prop_assert_eq!(names.len(), ds.train.num_classes);
                // Every class the set names has at least one training image.
                prop_assert!(ds.train.class_counts().iter().all(|&c| c > 0), "empty class in {:?}", names);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
