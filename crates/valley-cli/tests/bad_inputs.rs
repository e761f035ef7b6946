//! A corpus of bad inputs for every subcommand, run through the real binary: each must
//! exit non-zero without a panic, say what is wrong (the expected fragment), and leave no
//! output behind nor change any input. Inputs are tiny (the bundled 8×8 digits, a few
//! crafted checkpoints and folders) and built once per test binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use valley::checkpoint::{save_model, save_tensors, Checkpoint};
use valley::{Arch, Device, Kind, Model, ModelConfig, Tensor};

fn valley(args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_valley"))
        .args(args)
        .env("CI", "1")
        .env("OMP_NUM_THREADS", "1")
        .env_remove("VALLEY_DATA_DIR")
        .env_remove("VALLEY_IMAGE_FOLDER_DIR")
        .env_remove("VALLEY_CSV_DIR")
        .output()
        .expect("valley runs")
}

/// Paths of the shared inputs.
struct Fx {
    root: PathBuf,
    /// A trained digits MLP run (seed 1) and its final model; a second one (seed 2).
    run: PathBuf,
    a: PathBuf,
    b: PathBuf,
    init: PathBuf,
    /// The same run without final.safetensors: what `--resume` continues.
    resumable: PathBuf,
}

const TRAIN: [&str; 14] = [
    "train",
    "--dataset",
    "digits",
    "--model",
    "mlp",
    "--hidden",
    "16",
    "--epochs",
    "2",
    "--train-limit",
    "300",
    "--test-limit",
    "100",
    "--batch-size",
];

fn train(out: &Path, seed: &str, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = TRAIN.iter().map(|s| s.to_string()).collect();
    args.extend(["64", "--seed", seed, "--out", out.to_str().unwrap()].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    valley(&args)
}

fn write_checkpoint_variant(
    src: &Path,
    dst: &Path,
    edit: impl Fn(&str, &Tensor) -> Tensor,
    meta: HashMap<String, String>,
) {
    let ck = Checkpoint::read(src).unwrap();
    let tensors: Vec<(String, Tensor)> = ck.names.iter().map(|n| (n.clone(), edit(n, &ck.tensors[n]))).collect();
    save_tensors(dst, &tensors, meta).unwrap();
}

fn fixtures() -> &'static Fx {
    static FX: OnceLock<Fx> = OnceLock::new();
    FX.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let run = root.join("run-a");
        let out = train(&run, "1", &[]);
        assert!(out.status.success(), "training the fixture failed: {}", String::from_utf8_lossy(&out.stderr));
        let out = train(&root.join("run-b"), "2", &[]);
        assert!(out.status.success());
        let a = run.join("final.safetensors");
        let b = root.join("run-b/final.safetensors");

        let resumable = root.join("resumable");
        std::fs::create_dir_all(&resumable).unwrap();
        for f in ["init.safetensors", "checkpoint.safetensors", "metrics.jsonl"] {
            std::fs::copy(run.join(f), resumable.join(f)).unwrap();
        }

        let meta = Checkpoint::read(&a).unwrap().metadata;
        let first = "features.0.weight";
        let poison = |v: f64| {
            move |n: &str, t: &Tensor| {
                let t = t.copy();
                if n == first {
                    let _ = t.get(0).get(0).fill_(v);
                }
                t
            }
        };
        write_checkpoint_variant(&a, &root.join("nan.safetensors"), poison(f64::NAN), meta.clone());
        write_checkpoint_variant(&a, &root.join("inf.safetensors"), poison(f64::INFINITY), meta.clone());
        write_checkpoint_variant(&a, &root.join("int.safetensors"), |_, t| t.to_kind(Kind::Int64), meta.clone());
        let mut std0 = meta.clone();
        std0.insert("normalisation".into(), r#"{"mean":[0.3],"std":[0.0]}"#.into());
        write_checkpoint_variant(&a, &root.join("std0.safetensors"), |_, t| t.copy(), std0);
        let mut badmodel = meta.clone();
        badmodel.insert("model".into(), "{not json".into());
        write_checkpoint_variant(&a, &root.join("badmodel.safetensors"), |_, t| t.copy(), badmodel);
        write_checkpoint_variant(&a, &root.join("nometa.safetensors"), |_, t| t.copy(), HashMap::new());

        let bytes = std::fs::read(&a).unwrap();
        std::fs::write(root.join("trunc.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(root.join("garbage.safetensors"), b"hello, not a checkpoint").unwrap();
        std::fs::write(root.join("empty.safetensors"), b"").unwrap();
        let mut hdr = bytes.clone();
        hdr[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(root.join("hdr.safetensors"), hdr).unwrap();

        // A CNN for the same 8×8 data: another architecture than the MLPs.
        let mut cnn = ModelConfig::new(Arch::Cnn, 1, 8, 10);
        cnn.width = 0.25;
        let model = Model::new(&cnn, Device::Cpu).unwrap();
        save_model(&model, &root.join("cnn.safetensors"), &[("normalisation", meta["normalisation"].clone())]).unwrap();

        std::fs::write(root.join("afile.txt"), b"an existing file").unwrap();
        std::fs::copy(&a, root.join("existing.safetensors")).unwrap();
        std::fs::create_dir_all(root.join("emptydir")).unwrap();
        // A run folder with a single epoch checkpoint: one point is no trajectory.
        let traj1 = root.join("traj-one");
        std::fs::create_dir_all(&traj1).unwrap();
        std::fs::copy(run.join("init.safetensors"), traj1.join("init.safetensors")).unwrap();
        std::fs::copy(&a, traj1.join("epoch-2.safetensors")).unwrap();
        std::fs::copy(&a, traj1.join("final.safetensors")).unwrap();

        // CSV data: 8×8 images of 2 classes, and a test split with a header only.
        let row = |label: usize| {
            let px: Vec<String> = (0..64).map(|i| ((i * 7 + label * 3) % 17).to_string()).collect();
            format!("{label},{}\n", px.join(","))
        };
        let header = format!("label,{}\n", (0..64).map(|i| format!("p{i}")).collect::<Vec<_>>().join(","));
        let csv2 = root.join("csv2");
        std::fs::create_dir_all(&csv2).unwrap();
        let body: String = (0..20).map(|i| row(i % 2)).collect();
        std::fs::write(csv2.join("train.csv"), format!("{header}{body}")).unwrap();
        std::fs::write(csv2.join("test.csv"), format!("{header}{body}")).unwrap();
        let csv_empty = root.join("csv-empty-test");
        std::fs::create_dir_all(&csv_empty).unwrap();
        std::fs::write(csv_empty.join("train.csv"), format!("{header}{body}")).unwrap();
        std::fs::write(csv_empty.join("test.csv"), &header).unwrap();

        // An image folder whose class `b` is empty.
        let img = root.join("images");
        for d in ["train/a", "train/b", "test/a"] {
            std::fs::create_dir_all(img.join(d)).unwrap();
        }
        let png = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([(x * 30 + y) as u8]));
        png.save(img.join("train/a/1.png")).unwrap();
        png.save(img.join("test/a/1.png")).unwrap();

        // TOML configs.
        std::fs::write(root.join("unknown-key.toml"), "epochs = 1\nlearning_rate = 0.1\n").unwrap();
        std::fs::write(root.join("bad-type.toml"), "epochs = \"ten\"\n").unwrap();
        std::fs::write(root.join("garbage.toml"), "[[[ this is not toml").unwrap();

        // A report folder with a damaged verdict.
        std::fs::create_dir_all(root.join("bad-verdict")).unwrap();
        std::fs::write(root.join("bad-verdict/verdict.json"), "{\"name\": 3").unwrap();

        Fx { init: run.join("init.safetensors"), root, run, a, b, resumable }
    })
}

/// One bad invocation: the command line (placeholders below), the fragment its error must
/// contain, and whether it names an output path `{OUT}` that must stay absent (or empty).
struct Case {
    line: &'static str,
    needle: &'static str,
}

const fn case(line: &'static str, needle: &'static str) -> Case {
    Case { line, needle }
}

/// `{A}`, `{B}`: trained MLPs; `{INIT}` θ0 of A; `{X}`: crafted file X.safetensors in the
/// fixture folder; `{FILE}`: an existing text file; `{DIR}`: the fixture folder; `{OUT}`:
/// a fresh output path per case; `{RUN}`: a finished run folder (no epoch checkpoints);
/// `{RESUME}`: an interrupted one; `{DIR}/traj-one`: a run folder with one epoch checkpoint.
const CASES: &[Case] = &[
    // train: data, limits, flags, configs, outputs, resume
    case("{TRAIN} --train-limit 0 --out {OUT}", "training limit is 0"),
    case("{TRAIN} --test-limit 0 --out {OUT}", "test limit is 0"),
    case("{TRAIN} --save-epochs 5 --out {OUT}", "save epoch 5 lies outside"),
    case("{TRAIN} --save-epochs 0 --out {OUT}", "save epoch 0 lies outside"),
    case("{TRAIN} --epochs 0 --out {OUT}", "epochs and batch size must be ≥ 1"),
    case("{TRAIN} --batch-size 0 --out {OUT}", "epochs and batch size must be ≥ 1"),
    case("{TRAIN} --lr 0 --out {OUT}", "lr > 0"),
    case("{TRAIN} --lr nan --out {OUT}", "lr > 0"),
    case("{TRAIN} --lr=-0.1 --out {OUT}", "lr > 0"),
    case("{TRAIN} --momentum 1.5 --out {OUT}", "momentum in [0,1)"),
    case("{TRAIN} --weight-decay inf --out {OUT}", "weight decay ≥ 0"),
    case("{TRAIN} --nesterov true --momentum 0 --out {OUT}", "Nesterov"),
    case("{TRAIN} --model foo --out {OUT}", "unknown model `foo`"),
    case("{TRAIN} --dataset foo --out {OUT}", "unknown dataset `foo`"),
    case("{TRAIN} --data-dir {FILE} --out {OUT}", "is a file, not a folder"),
    case("{TRAIN} --data-dir {DIR}/nope --out {OUT}", "directory is missing"),
    case("{TRAIN} --schedule step:0:0.1 --out {OUT}", "bad step schedule"),
    case("{TRAIN} --schedule step:1:inf --out {OUT}", "bad step schedule"),
    case("{TRAIN} --schedule linear --out {OUT}", "unknown schedule `linear`"),
    case("{TRAIN} --optimizer rmsprop --out {OUT}", "unknown optimizer `rmsprop`"),
    case("{TRAIN} --bn-init zeros --out {OUT}", "unknown BN init `zeros`"),
    case("{TRAIN} --width 0 --out {OUT}", "width multiplier must be positive"),
    case("{TRAIN} --width nan --out {OUT}", "width multiplier must be positive"),
    case("{TRAIN} --hidden 0 --out {OUT}", "hidden widths must be ≥1"),
    case("{TRAIN} --device tpu --out {OUT}", "unknown device `tpu`"),
    case("{TRAIN} --config {DIR}/missing.toml --out {OUT}", "missing.toml"),
    case("{TRAIN} --config {DIR}/unknown-key.toml --out {OUT}", "unknown field `learning_rate`"),
    case("{TRAIN} --config {DIR}/bad-type.toml --out {OUT}", "bad-type.toml"),
    case("{TRAIN} --config {DIR}/garbage.toml --out {OUT}", "garbage.toml"),
    case("{TRAIN} --out {FILE}", "is an existing file"),
    case("{TRAIN} --out {RUN}", "already holds a finished run"),
    case("{TRAIN} --dataset image-folder --data-dir {DIR}/images --out {OUT}", "class folder `b` holds no"),
    case("{TRAIN} --dataset image-folder --out {OUT}", "has no default directory"),
    case("{TRAIN} --dataset csv --data-dir {DIR}/csv-empty-test --out {OUT}", "no data rows"),
    case("{TRAIN} --dataset csv --data-dir {DIR}/emptydir --out {OUT}", "looked in"),
    case("{RESUMECMD} --seed 9 --resume --out {RESUME}", "seed (1 → 9)"),
    case("{RESUMECMD} --seed 1 --lr 0.5 --resume --out {RESUME}", "optim.lr"),
    case("{RESUMECMD} --seed 1 --train-limit 200 --resume --out {RESUME}", "data.train_limit"),
    // eval: model against data, non-finite and damaged checkpoints, flags
    case("eval {A} --dataset fashion-mnist --train-limit 20 --test-limit 20", "model for 1x8x8 images"),
    case("eval {A} --dataset csv --data-dir {DIR}/csv2", "dataset csv has 1x8x8 images and 2 classes"),
    case("eval {nan}", "NaN or infinite values"),
    case("eval {inf}", "NaN or infinite values"),
    case("eval {int}", "convert the file's tensors to float32"),
    case("eval {std0}", "std of channel 0 is 0"),
    case("eval {nometa}", "has no valley metadata"),
    case("eval {nometa} --model mlp", "--in-channels or --image-size"),
    case("eval {nometa} --model mlp --in-channels 1 --num-classes 5", "--num-classes 5 was given"),
    case("eval {nometa} --model mlp --in-channels 1 --image-size 9", "the first layer takes 64 inputs"),
    case("eval {nometa} --model cnn", "features.0.weight"),
    case("eval {nometa} --model resnet20", "conv1.weight"),
    case("eval {A} --model cnn", "--model cnn contradicts"),
    case("eval {trunc}", "not a valid safetensors file"),
    case("eval {garbage}", "not a valid safetensors file"),
    case("eval {empty}", "not a valid safetensors file"),
    case("eval {hdr}", "not a valid safetensors file"),
    case("eval {badmodel}", "metadata `model` is not a valid model config"),
    case("eval {DIR}/missing.safetensors", "missing.safetensors"),
    case("eval {DIR}", "Is a directory"),
    case("eval {A} --dataset digits --split valid", "unknown split `valid`"),
    case("eval {A} --dataset digits --bn sometimes", "unknown BN policy `sometimes`"),
    case("eval {A} --dataset digits --test-limit 0", "test limit is 0"),
    case("eval {A} --dataset digits --data-dir {FILE}", "is a file, not a folder"),
    case("eval {A} --dataset digits --device tpu", "unknown device `tpu`"),
    // info
    case("info {nan}", "NaN or infinite values"),
    case("info {inf}", "NaN or infinite values"),
    case("info {int}", "convert the file's tensors"),
    case("info {std0}", "std of channel 0 is 0"),
    case("info {nometa}", "has no valley metadata"),
    case("info {nometa} --model linear", "--in-channels or --image-size"),
    case("info {nometa} --model resnet18", "conv1.weight"),
    case("info {garbage}", "not a valid safetensors file"),
    case("info {hdr}", "not a valid safetensors file"),
    case("info {A} --model vgg11", "--model vgg11 contradicts"),
    case("info {DIR}/missing.safetensors", "missing.safetensors"),
    // landscape
    case("{LAND} --lambdas=-1:1:100000000 --out {OUT}", "exceeds the limit of 10001 points"),
    case("{LAND} --lambdas 1:-1:5 --out {OUT}", "start must be below end"),
    case("{LAND} --lambdas nan --out {OUT}", "λ grid `nan`"),
    case("{LAND} --lambdas 0,0 --out {OUT}", "values repeat"),
    case("{LAND} --error-delta=-0.1 --out {OUT}", "--error-delta"),
    case("{LAND} --loss-ratio nan --out {OUT}", "--loss-ratio"),
    case("{LAND} --loss-ratio inf --out {OUT}", "--loss-ratio"),
    case("{LAND} --scale 0 --out {OUT}", "scale 0 must be positive"),
    case("{LAND} --directions brownian --out {OUT}", "brownian"),
    case("{LAND} --group NOPE --out {OUT}", "NOPE"),
    case("{LAND} --norm l7 --out {OUT}", "l7"),
    case("{LAND} --bn-batch 0 --out {OUT}", "BN batch, BN batches and evaluation batch must be ≥ 1"),
    case("{LAND} --splits valid --out {OUT}", "valid"),
    case("{LAND} --sign sideways --out {OUT}", "sideways"),
    case("{LAND} --flip-ratio 2 --out {OUT}", "2"),
    case("{LAND} --out {FILE}", "is an existing file"),
    case("{LAND} --repeats 100000 --out {OUT}", "exceed the limit of 1000"),
    case(
        "{LAND} --plane --directions gaussian,uniform --sign as-sampled --lambdas=-1:1:1001 --betas=-1:1:1001 --out {OUT}",
        "exceeds the limit of 250000",
    ),
    case("{LAND} --plane --trajectory {RUN} --out {OUT}", "has 0 epoch checkpoints (epoch-N.safetensors)"),
    case("{LAND} --plane --trajectory {DIR}/traj-one --out {OUT}", "has 1 epoch checkpoint (epoch-N.safetensors)"),
    case("{LAND} --plane --trajectory {DIR}/traj-one --out {OUT}", "--save-epochs"),
    case("{LAND} --plane --trajectory {DIR}/nope --out {OUT}", "is not a run folder"),
    case("{LAND} --trajectory {RUN} --out {OUT}", "--plane"),
    case("landscape --checkpoint {nan} --dataset digits --out {OUT}", "NaN or infinite values"),
    case("landscape --checkpoint {std0} --dataset digits --out {OUT}", "std of channel 0 is 0"),
    case("landscape --checkpoint {A} --dataset fashion-mnist --train-limit 20 --test-limit 20 --out {OUT}", "28"),
    // hessian
    case("hessian {nan} --dataset digits --out {OUT}", "NaN or infinite values"),
    case("hessian {int} --dataset digits --out {OUT}", "convert the file's tensors"),
    case("hessian {A} --model cnn --dataset digits --out {OUT}", "--model cnn contradicts"),
    case("hessian {A} --dataset digits --test-limit 0 --out {OUT}", "test limit is 0"),
    case("hessian {A} --dataset fashion-mnist --train-limit 20 --test-limit 20 --out {OUT}", "28"),
    // interpolate
    case("{INTERP} --lambdas=-1:1:100000000 --out {OUT}", "exceeds the limit"),
    case("{INTERP} --splits valid --out {OUT}", "unknown split `valid`"),
    case("{INTERP} --bn sometimes --out {OUT}", "sometimes"),
    case("{INTERP} --out {FILE}", "is an existing file"),
    case("interpolate {A} {nan} --dataset digits --out {OUT}", "NaN or infinite values"),
    case("interpolate {A} {cnn} --dataset digits --out {OUT}", "cnn.safetensors"),
    case("interpolate {A} {nometa} --dataset digits --out {OUT}", "has no valley metadata"),
    case(
        "interpolate {A} {B} --dataset fashion-mnist --train-limit 20 --test-limit 20 --out {OUT}",
        "model for 1x8x8 images",
    ),
    case("interpolate {A} {B} --dataset csv --data-dir {DIR}/csv2 --out {OUT}", "2 classes"),
    // ssr
    case("ssr {A} {nan} --out {OUT}", "NaN or infinite values"),
    case("ssr {int} {B} --out {OUT}", "convert the file's tensors"),
    case("ssr {A} {cnn} --out {OUT}", "cnn.safetensors"),
    case("ssr {A} {B} --init {garbage} --out {OUT}", "not a valid safetensors file"),
    case("ssr {A} {B} --out {FILE}", "is an existing file"),
    case("ssr {A} {DIR}/missing.safetensors --out {OUT}", "missing.safetensors"),
    // soups
    case("{SOUPS} --pretrain-fraction 1.5 --out {OUT}", "--pretrain-fraction"),
    case("{SOUPS} --pretrain-fraction 0 --out {OUT}", "--pretrain-fraction"),
    case("{SOUPS} --lambdas=-1:1:100000000 --out {OUT}", "exceeds the limit"),
    case("{SOUPS} --pretrain-classes 99 --out {OUT}", "class 99 does not exist"),
    case("{SOUPS} --train-limit 0 --out {OUT}", "training limit is 0"),
    case("{SOUPS} --schedule linear --out {OUT}", "unknown schedule"),
    case("{SOUPS} --out {FILE}", "is an existing file"),
    // merge: outputs, non-finite values, methods
    case("merge {A} {B} --out {A}", "is also an input"),
    case("merge {A} {B} --out {A} --force", "is also an input"),
    case("merge {A} {B} --method ties --base {INIT} --out {INIT} --force", "is also an input"),
    case("merge {A} {B} --out {DIR}/existing.safetensors", "already exists; pass --force"),
    case("merge {A} {B} --out {DIR}", "is a folder"),
    case(
        "merge {A} {B} --method task-arithmetic --base {INIT} --lambda NaN --out {OUT}",
        "(--lambda) and the TIES keep fraction (--keep) must be finite",
    ),
    case("merge {A} {B} --method task-arithmetic --base {INIT} --lambda inf --out {OUT}", "must be finite"),
    case("merge {A} {B} --method ties --out {OUT}", "needs --base"),
    case("merge {A} {B} --method median --out {OUT}", "unknown merge method `median`"),
    case("merge {A} {B} --weights 1 --out {OUT}", "weight"),
    case("merge {A} {nan} --out {OUT}", "NaN or infinite values"),
    case("merge {A} {cnn} --out {OUT}", "cnn.safetensors"),
    case(
        "merge {A} {B} --method greedy --dataset fashion-mnist --train-limit 20 --test-limit 20 --out {OUT}",
        "model for 1x8x8 images",
    ),
    case("merge {A} {B} --bn median --out {OUT}", "unknown BN policy `median`"),
    case("merge {A} {B} --base {garbage} --method ties --out {OUT}", "not a valid safetensors file"),
    // fed and partition
    case("{FED} --alpha inf --out {OUT}", "finite number > 0"),
    case("{FED} --alpha 0 --out {OUT}", "finite number > 0"),
    case("{FED} --participation 0 --out {OUT}", "participation"),
    case("{FED} --clients 0 --out {OUT}", "clients"),
    case("{FED} --algo fedfoo --out {OUT}", "fedfoo"),
    case("{FED} --partition stripes --out {OUT}", "stripes"),
    case("{FED} --partition shards:0 --out {OUT}", "shards per client must be at least 1"),
    case("{FED} --clients 1000 --out {OUT}", "only"),
    case("{FED} --train-limit 0 --out {OUT}", "only 0 training samples"),
    case("{FED} --lr 0 --out {OUT}", "lr > 0"),
    case("{FED} --out {FILE}", "is an existing file"),
    case("partition --dataset digits --alpha inf", "finite number > 0"),
    case("partition --dataset digits --clients 0", "clients"),
    case("partition --dataset digits --partition stripes", "stripes"),
    case("partition --dataset digits --train-limit 0", "training limit is 0"),
    case("partition --dataset digits --clients 100000", "only"),
    // reproduce, report, bench
    case("reproduce nonsense --out {OUT}", "unknown finding `nonsense`"),
    case("reproduce valley --budget huge --out {OUT}", "huge"),
    case("reproduce noise --rejudge {DIR}/nope", "no saved measurements of `noise`"),
    case("reproduce all --rejudge {DIR}/emptydir", "holds no finding's verdict.json"),
    case("report {DIR}/nope --out {OUT}", "does not exist"),
    case("report {DIR}/emptydir --out {OUT}", "no verdict.json found"),
    case("report {DIR}/bad-verdict --out {OUT}", "is not a valley verdict"),
    case("bench --batch 0", "--batch, --steps and --threads must be at least 1"),
    case("bench --steps 0", "--batch, --steps and --threads must be at least 1"),
    case("bench --models transformer --steps 1", "unknown bench model `transformer`"),
];

fn expand(line: &str, fx: &Fx, out: &Path) -> Vec<String> {
    let d = fx.root.display().to_string();
    let train = "train --dataset digits --model mlp --hidden 8 --epochs 1 --train-limit 100 --test-limit 50";
    let resume_cmd = TRAIN.join(" ") + " 64";
    let mut line = line
        .replace("{TRAIN}", train)
        .replace("{RESUMECMD}", &resume_cmd)
        .replace("{LAND}", "landscape --checkpoint {A} --dataset digits --train-limit 100 --test-limit 50")
        .replace("{INTERP}", "interpolate {A} {B} --dataset digits --train-limit 100 --test-limit 50")
        .replace("{SOUPS}", "soups --dataset digits --model mlp --epochs 1 --train-limit 200 --test-limit 50")
        .replace(
            "{FED}",
            "fed --dataset digits --model mlp --clients 4 --rounds 1 --local-epochs 1 --train-limit 200 --test-limit 50",
        );
    for (k, v) in [
        ("{A}", fx.a.display().to_string()),
        ("{B}", fx.b.display().to_string()),
        ("{INIT}", fx.init.display().to_string()),
        ("{RUN}", fx.run.display().to_string()),
        ("{RESUME}", fx.resumable.display().to_string()),
        ("{FILE}", format!("{d}/afile.txt")),
        ("{OUT}", out.display().to_string()),
    ] {
        line = line.replace(k, &v);
    }
    for name in ["nan", "inf", "int", "std0", "nometa", "trunc", "garbage", "empty", "hdr", "badmodel", "cnn"] {
        line = line.replace(&format!("{{{name}}}"), &format!("{d}/{name}.safetensors"));
    }
    line = line.replace("{DIR}", &d);
    last_flag_wins(line.split_whitespace().map(String::from).collect())
}

/// Drops earlier occurrences of a `--flag VALUE` (or `--flag=VALUE`) given again later, so
/// a case can override a template's flag.
fn last_flag_wins(tokens: Vec<String>) -> Vec<String> {
    let name = |t: &str| t.split('=').next().unwrap_or(t).to_string();
    let mut groups: Vec<Vec<String>> = Vec::new();
    for t in tokens {
        match groups.last_mut() {
            Some(g) if !t.starts_with("--") && g.len() == 1 && g[0].starts_with("--") && !g[0].contains('=') => {
                g.push(t)
            }
            _ => groups.push(vec![t]),
        }
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    for g in groups {
        if g[0].starts_with("--") {
            out.retain(|o| !(o[0].starts_with("--") && name(&o[0]) == name(&g[0])));
        }
        out.push(g);
    }
    out.concat()
}

/// Every regular file under `dir` with its bytes.
fn snapshot(dir: &Path) -> HashMap<PathBuf, Vec<u8>> {
    let mut out = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p.starts_with(dir.join("out")) {
                    stack.push(p);
                }
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn every_bad_input_fails_cleanly_and_writes_nothing() {
    let fx = fixtures();
    assert!(CASES.len() >= 100, "the corpus has {} cases", CASES.len());
    let before = snapshot(&fx.root);
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(c) = CASES.get(i) else { break };
                let out = fx.root.join("out").join(format!("case-{i}"));
                let args = expand(c.line, fx, &out);
                let o = valley(&args);
                let se = String::from_utf8_lossy(&o.stderr).to_string();
                let code = o.status.code();
                let mut why = Vec::new();
                if o.status.success() {
                    why.push("exited 0".to_string());
                }
                if code == Some(101) || se.contains("panicked") {
                    why.push("panicked".to_string());
                }
                if !se.contains(c.needle) {
                    why.push(format!("stderr lacks `{}`", c.needle));
                }
                if se.matches("os error").count() > 1 {
                    why.push("OS error printed twice".to_string());
                }
                let left = out.exists() && (!out.is_dir() || std::fs::read_dir(&out).unwrap().next().is_some());
                if left {
                    why.push(format!("left output {}", out.display()));
                }
                if let Some(dump) = std::env::var_os("VALLEY_CORPUS_DUMP") {
                    let line = format!("[{i}] {}\n    {}\n", c.line, se.trim().replace('\n', "\n    "));
                    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dump).unwrap();
                    std::io::Write::write_all(&mut f, line.as_bytes()).unwrap();
                }
                if !why.is_empty() {
                    failures.lock().unwrap().push(format!(
                        "[{i}] valley {}\n    {}\n    stderr: {}",
                        c.line,
                        why.join("; "),
                        se.trim()
                    ));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
    let after = snapshot(&fx.root);
    for (p, bytes) in &before {
        assert!(after.get(p) == Some(bytes), "input {} was changed or removed", p.display());
    }
}

#[test]
fn a_training_checkpoint_opens_in_eval_and_info() {
    let fx = fixtures();
    let ck = fx.run.join("checkpoint.safetensors").display().to_string();
    for args in [vec!["info", &ck], vec!["eval", &ck, "--dataset", "digits", "--test-limit", "100", "--seed", "1"]] {
        let o = valley(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn a_foreign_checkpoint_with_inferred_shapes_evaluates_like_the_original() {
    let fx = fixtures();
    let d = fx.root.display().to_string();
    let eval = |extra: &[&str]| {
        let mut args: Vec<String> =
            ["eval", "--dataset", "digits", "--test-limit", "100", "--seed", "1"].map(String::from).to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = valley(&args);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let original = eval(&[fx.a.to_str().unwrap()]);
    // No metadata: no normalisation either, so compare the inferred architecture via info.
    let nometa = format!("{d}/nometa.safetensors");
    let _ = eval(&[&nometa, "--model", "mlp", "--in-channels", "1"]);
    let info = valley(&["info", &nometa, "--model", "mlp", "--image-size", "8"].map(String::from));
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success() && text.contains("1x8x8, 10 classes"), "{text}");
    assert!(original.contains("accuracy"), "{original}");
}

#[test]
fn training_that_diverges_stops_with_a_last_good_model_that_eval_and_info_open() {
    let fx = fixtures();
    let out = fx.root.join("diverged");
    let o = train(&out, "3", &["--lr", "1e12", "--momentum", "0.9"]);
    let se = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !se.contains("panicked"), "{se}");
    assert!(se.contains("training stopped") && se.contains("last-good.safetensors"), "{se}");
    assert!(!out.join("final.safetensors").exists(), "a diverged run has no final model");
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let stopped = &run["stopped"];
    assert!(stopped["reason"].as_str().unwrap().contains("loss is"), "{run}");
    let good = out.join("last-good.safetensors").display().to_string();
    assert_eq!(stopped["last_good"].as_str().unwrap(), good);
    for args in [vec!["info", &good], vec!["eval", &good, "--dataset", "digits", "--test-limit", "50", "--seed", "3"]] {
        let o = valley(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let so = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(!so.contains("NaN"), "{so}");
    }
}

#[test]
fn resume_removes_stale_temp_files_and_finishes() {
    let fx = fixtures();
    let dir = fx.root.join("resume-temps");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["init.safetensors", "checkpoint.safetensors", "metrics.jsonl"] {
        std::fs::copy(fx.run.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join(".tmpAbC123"), b"half a checkpoint").unwrap();
    std::fs::write(dir.join(".metrics.jsonl.999-0.tmp"), b"half").unwrap();
    let o = train(&dir, "1", &["--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!dir.join(".tmpAbC123").exists() && !dir.join(".metrics.jsonl.999-0.tmp").exists());
    assert_eq!(std::fs::read(dir.join("final.safetensors")).unwrap(), std::fs::read(&fx.a).unwrap());
}
