//! `valley fed` (one federated run), `valley fed compare` (a grid of runs and a table) and
//! `valley partition` (a split's client × class matrix).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use valley::device::DeviceChoice;
use valley::train::OptimConfig;
use valley::{Device, ModelConfig};
use valley_data::{DatasetKind, Partition};
use valley_fed::compare::{self, CompareEvent, Entry, Grid, Tuning};
use valley_fed::config::paper;
use valley_fed::partition::{split_clients, PartitionReport};
use valley_fed::{Algorithm, EvalSplit, Event, FedConfig, FedSummary, Reduce};
use valley_report::{matrix_figure, Table};

use crate::common::DataArgs;

/// `valley fed [OPTIONS]` or `valley fed compare [OPTIONS]`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, args_override_self = true)]
pub struct FedArgs {
    #[command(subcommand)]
    pub command: Option<FedCommand>,
    #[command(flatten)]
    pub run: FedRunArgs,
}

#[derive(Subcommand, Debug)]
pub enum FedCommand {
    /// Run every algorithm × α × seed and tabulate final accuracy (mean ± std over seeds).
    Compare(CompareArgs),
}

/// Options of one federated run (defaults: the paper's §5 setup).
#[derive(Args, Clone, Debug)]
pub struct FedRunArgs {
    /// Algorithm: fedavg, fedprox, moon, feddyn, fedsign.
    #[arg(long, default_value = "fedavg")]
    pub algo: String,
    /// FedSign's γ (paper: 0.001, 0.01, 0.1).
    #[arg(long)]
    pub gamma: Option<f64>,
    /// FedSign's reduction of the sign term over parameters: sum (default: each weight is
    /// pulled by about γ/4 per step), mean (over all N parameters: pull γ/(4N)) or
    /// tensor-mean (mean within each tensor, averaged over tensors).
    #[arg(long, default_value = "sum")]
    pub fedsign_reduce: Reduce,
    /// μ of FedProx (default 0.01) or MOON (default 1).
    #[arg(long)]
    pub mu: Option<f64>,
    /// FedDyn's α (default 0.01).
    #[arg(long)]
    pub dyn_alpha: Option<f64>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Architecture (default cnn): linear, mlp, cnn, vgg11[-bn], ..., resnet20, resnet18.
    #[arg(long, default_value = "cnn")]
    pub model: valley::Arch,
    /// Width multiplier for channels and hidden units.
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// K, number of clients.
    #[arg(long, default_value_t = paper::CLIENTS)]
    pub clients: usize,
    /// Q, fraction of clients sampled per round (max(Q·K, 1) clients).
    #[arg(long, default_value_t = paper::PARTICIPATION)]
    pub participation: f64,
    /// T, communication rounds (the budget).
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
    /// E, local epochs per round.
    #[arg(long, default_value_t = paper::LOCAL_EPOCHS)]
    pub local_epochs: usize,
    #[arg(long, default_value_t = paper::BATCH_SIZE)]
    pub batch_size: usize,
    #[arg(long, default_value_t = paper::LR)]
    pub lr: f64,
    #[arg(long, default_value_t = paper::MOMENTUM)]
    pub momentum: f64,
    #[arg(long, default_value_t = paper::WEIGHT_DECAY)]
    pub weight_decay: f64,
    /// Label split: dirichlet (with --alpha), iid, or shards:N.
    #[arg(long, default_value = "dirichlet")]
    pub partition: String,
    /// Dirichlet α (smaller = more skewed; paper: 10, 1, 0.5).
    #[arg(long, default_value_t = paper::DIRICHLET_ALPHA)]
    pub alpha: f64,
    /// Weight the average by client data size (default: unweighted, as in the paper).
    #[arg(long)]
    pub weighted: bool,
    /// Probability that a sampled client drops out of a round.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Probability that a sampled client straggles (finishes a random fraction of its steps).
    #[arg(long, default_value_t = 0.0)]
    pub stragglers: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto (CUDA when present), cpu or cuda.
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Clients trained side by side (default OMP_NUM_THREADS, else all cores); kernels run
    /// single-threaded, so this changes speed but no number.
    #[arg(long)]
    pub parallel_clients: Option<usize>,
    /// Output folder (default runs/fed-<algo>-<dataset>-seed<seed>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run from its last finished round (identical result).
    #[arg(long)]
    pub resume: bool,
    /// Fraction of the training samples held out as a stratified, seeded validation split
    /// (never trained on); 0 = none. `fed compare --tune` selects coefficients on it.
    #[arg(long, default_value_t = 0.0)]
    pub validation: f64,
    /// Evaluate each round on the validation split instead of the test set (a selection
    /// run: the test set is never read). Needs --validation.
    #[arg(long)]
    pub select: bool,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Algorithms, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "fedavg,fedprox,moon,feddyn,fedsign")]
    pub algos: Vec<String>,
    /// Seeds, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Dirichlet α values, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0.5")]
    pub alphas: Vec<f64>,
    /// Choose each algorithm's coefficient on the validation split first (selection runs
    /// at --tune-seed and --tune-alpha, evaluated on validation only; needs --validation),
    /// then run the grid with the chosen values; writes selection.{json,csv}.
    #[arg(long)]
    pub tune: bool,
    /// FedSign γ candidates for --tune.
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.01,0.1")]
    pub gammas: Vec<f64>,
    /// FedProx μ candidates for --tune.
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.01,0.1")]
    pub prox_mus: Vec<f64>,
    /// MOON μ candidates for --tune.
    #[arg(long, value_delimiter = ',', default_value = "0.1,1,5")]
    pub moon_mus: Vec<f64>,
    /// FedDyn α candidates for --tune.
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.01,0.1")]
    pub dyn_alphas: Vec<f64>,
    /// Seed of the selection runs.
    #[arg(long, default_value_t = 0)]
    pub tune_seed: u64,
    /// Dirichlet α of the selection runs (the choice applies to every --alphas value).
    #[arg(long, default_value_t = paper::DIRICHLET_ALPHA)]
    pub tune_alpha: f64,
    /// Every other option of `valley fed` (--algo, --seed, --alpha are set by the grid;
    /// --gamma, --mu and --dyn-alpha apply to the algorithms they belong to).
    #[command(flatten)]
    pub base: FedRunArgs,
}

#[derive(Args, Debug)]
pub struct PartitionArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// K, number of clients.
    #[arg(long, default_value_t = paper::CLIENTS)]
    pub clients: usize,
    /// Label split: dirichlet (with --alpha), iid, or shards:N.
    #[arg(long, default_value = "dirichlet")]
    pub partition: String,
    /// Dirichlet α.
    #[arg(long, default_value_t = paper::DIRICHLET_ALPHA)]
    pub alpha: f64,
    /// The seed of the `valley fed` run whose split to show.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folder for partition.png/svg and partition.csv.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn parse_partition(scheme: &str, alpha: f64) -> Result<Partition> {
    if !(alpha > 0.0 && alpha.is_finite()) && scheme == "dirichlet" {
        bail!("--alpha must be a finite number > 0 (the Dirichlet concentration; smaller = more skewed), got {alpha}");
    }
    Ok(match scheme {
        "dirichlet" => Partition::Dirichlet { alpha },
        other => other.parse::<Partition>()?,
    })
}

fn resolve_device(device: Option<DeviceChoice>) -> Result<Device> {
    Ok(device.unwrap_or_default().resolve()?)
}

fn workers(threads: Option<usize>) -> usize {
    threads
        .or_else(|| std::env::var("OMP_NUM_THREADS").ok().and_then(|v| v.parse().ok()))
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl FedRunArgs {
    /// `--algo` with its coefficient (`--gamma`, `--mu` or `--dyn-alpha`).
    fn algorithm(&self) -> Result<Algorithm> {
        let coef = match self.algo.to_ascii_lowercase().as_str() {
            "fedsign" => self.gamma,
            "fedprox" | "moon" => self.mu,
            "feddyn" => self.dyn_alpha,
            _ => None,
        };
        Ok(Algorithm::parse(&self.algo, coef, self.fedsign_reduce)?)
    }

    pub fn to_config(&self) -> Result<FedConfig> {
        let algorithm = self.algorithm()?;
        let data = self.data.config(DatasetKind::FashionMnist, self.seed)?;
        let mut model = ModelConfig::new(self.model, 1, 28, 10);
        model.width = self.width;
        let mut cfg = FedConfig::paper(algorithm, data, model, self.rounds, self.seed);
        cfg.partition = parse_partition(&self.partition, self.alpha)?;
        cfg.clients = self.clients;
        cfg.participation = self.participation;
        cfg.local_epochs = self.local_epochs;
        cfg.batch_size = self.batch_size;
        cfg.optim = OptimConfig {
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            ..OptimConfig::default()
        };
        cfg.weighted = self.weighted;
        cfg.dropout = self.dropout;
        cfg.stragglers = self.stragglers;
        cfg.validation = self.validation;
        if self.select {
            cfg.evaluate = EvalSplit::Validation;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

pub fn run(a: FedArgs) -> Result<()> {
    match a.command {
        Some(FedCommand::Compare(c)) => compare(c),
        None => {
            let summary = run_one(&a.run, true)?;
            let split = match summary.evaluated {
                EvalSplit::Test => "test",
                EvalSplit::Validation => "validation",
            };
            println!(
                "{}: final {split} accuracy {:.2}% (loss {:.4}) after {} rounds, {:.2}s per round; saved in {}",
                summary.algorithm,
                summary.final_accuracy * 100.0,
                summary.final_loss,
                summary.rounds.len(),
                summary.mean_seconds_per_round,
                summary.dir.display()
            );
            Ok(())
        }
    }
}

/// One run with progress lines and its accuracy figure.
fn run_one(a: &FedRunArgs, verbose: bool) -> Result<FedSummary> {
    let cfg = a.to_config()?;
    let device = resolve_device(a.device)?;
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("runs/fed-{}-{}-seed{}", cfg.algorithm.name(), cfg.data.dataset.name(), cfg.seed))
    });
    crate::common::check_output_dir(&out)?;
    let rounds = cfg.rounds;
    let split = if cfg.evaluate == EvalSplit::Test { "test" } else { "val" };
    let mut on_event = |e: Event| {
        match e {
        Event::Start { clients, per_round, workers, partition, sizes } if verbose => eprintln!(
            "{}: {clients} clients ({} empty, sizes {}–{}, mean largest-class share {:.2}), {per_round} per round, {workers} workers",
            cfg.algorithm.name(),
            partition.empty_clients,
            sizes.iter().min().unwrap_or(&0),
            sizes.iter().max().unwrap_or(&0),
            partition.mean_max_share
        ),
        Event::Resumed { round } => eprintln!("resuming after round {round}"),
        Event::RoundEnd(r) if verbose => eprintln!(
            "round {:>3}/{rounds}  {split} acc {:.2}% loss {:.4}  local loss {:.4}  reg {:.4}  SSR {:.4}  flipped {:.4}  returned {}/{}{}  ({:.2}s)",
            r.round,
            r.accuracy(cfg.evaluate) * 100.0,
            if cfg.evaluate == EvalSplit::Test { r.test_loss } else { r.val_loss },
            r.train_loss,
            r.reg_term,
            r.mean_ssr,
            r.sign_flip,
            r.returned,
            r.selected,
            if r.kept_global { " (kept global)" } else { "" },
            r.seconds
        ),
        _ => {}
    }
    };
    let summary = valley_fed::run(&cfg, &out, device, workers(a.parallel_clients), a.resume, &mut on_event)?;
    valley_fed::server::write_accuracy_figure(&out, &summary.rounds, cfg.algorithm.name())?;
    Ok(summary)
}

fn compare(c: CompareArgs) -> Result<()> {
    let root = c.base.out.clone().unwrap_or_else(|| PathBuf::from("runs/fed-compare"));
    let entries = c
        .algos
        .iter()
        .map(|name| Ok(Entry::named(FedRunArgs { algo: name.clone(), ..c.base.clone() }.algorithm()?)))
        .collect::<Result<Vec<_>>>()?;
    for &alpha in &c.alphas {
        parse_partition(&c.base.partition, alpha)?;
    }
    let grid = Grid {
        base: c.base.to_config()?,
        entries,
        alphas: c.alphas.clone(),
        seeds: c.seeds.clone(),
        subset_per_seed: true,
        figures: true,
    };
    let device = resolve_device(c.base.device)?;
    let workers = workers(c.base.parallel_clients);
    let mut on_event = |e: CompareEvent| match e {
        CompareEvent::Reusing { label, alpha, seed, dir } => {
            eprintln!("{label} α={alpha} seed {seed}: reusing {}", dir.display())
        }
        CompareEvent::Running { label, alpha, seed, dir } => {
            eprintln!("{label} α={alpha} seed {seed}: running into {}", dir.display())
        }
        CompareEvent::Finished { records, .. } => {
            if let Some(last) = records.last() {
                eprintln!("  final accuracy {:.2}%", last.test_accuracy * 100.0)
            }
        }
        CompareEvent::Run(Event::Resumed { round }) => eprintln!("resuming after round {round}"),
        CompareEvent::Run(_) => {}
    };
    let grid = if c.tune {
        let candidates = grid
            .entries
            .iter()
            .map(|e| {
                let values: &[f64] = match e.algorithm {
                    Algorithm::FedAvg => &[],
                    Algorithm::FedProx { .. } => &c.prox_mus,
                    Algorithm::Moon { .. } => &c.moon_mus,
                    Algorithm::FedDyn { .. } => &c.dyn_alphas,
                    Algorithm::FedSign { .. } => &c.gammas,
                };
                if values.is_empty() {
                    vec![e.algorithm]
                } else {
                    values.iter().map(|&v| e.algorithm.with_coefficient(v)).collect()
                }
            })
            .collect();
        let tuning = Tuning { candidates, seed: c.tune_seed, alpha: c.tune_alpha };
        for family in &tuning.candidates {
            for a in family {
                a.validate()?;
            }
        }
        let (selections, chosen) = grid.tune(&tuning, &root.join("select"), device, workers, &mut on_event)?;
        compare::write_selection(&root, &selections)?;
        for s in &selections {
            eprintln!("selected {} (validation accuracy {:.2}%)", s.chosen, s.chosen_validation_accuracy * 100.0);
        }
        chosen
    } else {
        grid
    };
    let results = grid.run(&root, device, workers, &mut on_event)?;
    let out = compare::write_outputs(&root, &results)?;
    print!("{}", compare::table(&results).to_markdown());
    println!("table: {}, {}; figure: {}", out.markdown.display(), out.csv.display(), out.figure.display());
    Ok(())
}

pub fn partition(a: PartitionArgs) -> Result<()> {
    let scheme = parse_partition(&a.partition, a.alpha)?;
    let data_cfg = a.data.config(DatasetKind::FashionMnist, a.seed)?;
    let ds = valley::train::prepare(&data_cfg, None, Device::Cpu)?;
    let labels = Vec::<i64>::try_from(&ds.train.y)?;
    let classes = ds.num_classes as usize;
    let parts = split_clients(&labels, classes, a.clients, &scheme, a.seed)?;
    let report = PartitionReport::new(&parts, &labels, classes);
    let mut header = vec!["client".to_string(), "samples".to_string()];
    header.extend((0..classes).map(|c| format!("c{c}")));
    let rows: Vec<Vec<String>> = report
        .matrix
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let mut row = vec![k.to_string(), r.iter().sum::<usize>().to_string()];
            row.extend(r.iter().map(|v| v.to_string()));
            row
        })
        .collect();
    let table = Table { header, rows };
    println!("{} over {} clients ({}; {} training samples)", scheme, a.clients, ds.name, labels.len());
    print!("{}", table.to_markdown());
    println!(
        "empty clients: {}; mean largest-class share {:.3} (balanced: {:.3})",
        report.empty_clients,
        report.mean_max_share,
        1.0 / classes as f64
    );
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        table.write_csv(&out.join("partition.csv"))?;
        let values: Vec<Vec<f64>> = report.matrix.iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect();
        let rows: Vec<String> = (0..a.clients).map(|k| format!("client {k}")).collect();
        let cols: Vec<String> = (0..classes).map(|c| format!("{c}")).collect();
        let files = matrix_figure(
            &out.join("partition"),
            &format!("{} clients × classes, {scheme}", ds.name),
            &rows,
            &cols,
            &values,
            a.clients <= 30,
        )?;
        println!("wrote {} and {}", out.join("partition.csv").display(), files[0].display());
    }
    Ok(())
}
