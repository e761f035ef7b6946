//! The `valley` command: argument parsing, progress output, and calls into the libraries.

mod cmd;
mod common;
mod progress;

use clap::{Parser, Subcommand};

/// valley: draw, measure and exploit the asymmetric valleys of deep networks.
#[derive(Parser)]
#[command(name = "valley", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a classifier and save θ0 (init.safetensors) and θf (final.safetensors).
    Train(cmd::train::TrainArgs),
    /// Loss and accuracy of a checkpoint on a dataset split.
    Eval(cmd::eval::EvalArgs),
    /// Architecture, parameter count and parameter groups of a checkpoint.
    Info(cmd::info::InfoArgs),
    /// Draw 1D valleys L(θf + λ·d) along noise directions and measure their asymmetry.
    Landscape(Box<cmd::landscape::LandscapeArgs>),
    /// Hessian trace, top eigenvalues and spectral density per parameter group, at θf and along a valley.
    Hessian(Box<cmd::hessian::HessianArgs>),
    /// Accuracy and loss along (1−λ)θA + λθB, the barrier and the performance gap.
    Interpolate(cmd::fusion::InterpolateArgs),
    /// Sign-same ratios between models, overall and per parameter group.
    Ssr(cmd::fusion::SsrArgs),
    /// The model-soups study: SSR and fusion gap against training epochs (paper Figure 11).
    Soups(cmd::fusion::SoupsArgs),
    /// Merge models: uniform soup, greedy soup, task arithmetic, TIES.
    Merge(cmd::fusion::MergeArgs),
    /// Federated learning: FedAvg, FedProx, MOON, FedDyn, FedSign (and `fed compare`).
    Fed(Box<cmd::fed::FedArgs>),
    /// Show a federated partition's client × class matrix.
    Partition(cmd::fed::PartitionArgs),
    /// Reproduce the paper's findings with verdicts, figures and an HTML report.
    Reproduce(cmd::reproduce::ReproduceArgs),
    /// Collect verdict.json files of earlier runs into one HTML report.
    Report(cmd::reproduce::ReportArgs),
    /// Training speed in steps per second (compare with scripts/bench_torch.py).
    Bench(cmd::bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    valley::device::keep_freed_memory();
    let result = match cli.command {
        Command::Train(a) => cmd::train::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Info(a) => cmd::info::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Reproduce(a) => cmd::reproduce::run(a),
        Command::Report(a) => cmd::reproduce::report(a),
        Command::Landscape(a) => cmd::landscape::run(*a),
        Command::Hessian(a) => cmd::hessian::run(*a),
        Command::Interpolate(a) => cmd::fusion::interpolate(a),
        Command::Ssr(a) => cmd::fusion::ssr(a),
        Command::Soups(a) => cmd::fusion::soups(a),
        Command::Merge(a) => cmd::fusion::merge(a),
        Command::Fed(a) => cmd::fed::run(*a),
        Command::Partition(a) => cmd::fed::partition(a),
    };
    if let Err(e) = result {
        eprintln!("error: {}", chain_once(&e));
        std::process::exit(1);
    }
}

/// The error and its causes joined by ": ", skipping a cause whose text the message
/// already contains (library errors embed their OS error, which is also their source).
fn chain_once(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg = format!("{msg}: {c}");
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("valley").chain(args.iter().copied()))
    }

    #[test]
    fn bad_typed_values_are_refused_at_parse_time() {
        let err = parse(&["merge", "a.safetensors", "b.safetensors", "--method", "soup", "--out", "m.safetensors"])
            .err()
            .expect("unknown method refused");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("soup"), "{err}");
        assert!(parse(&["merge", "a.safetensors", "--method", "ties", "--out", "m.safetensors"]).is_ok());
        let err = parse(&["eval", "a.safetensors", "--bn", "sometimes"]).err().expect("unknown BN policy refused");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        let err = parse(&["eval", "a.safetensors", "--split", "valid"]).err().expect("unknown split refused");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        for bad in [
            vec!["train", "--schedule", "sometimes"],
            vec!["soups", "--out", "o", "--schedule", "step:0"],
            vec!["train", "--model", "vgg12"],
            vec!["landscape", "--checkpoint", "c", "--norm", "l3"],
            vec!["landscape", "--checkpoint", "c", "--lambdas=1:-1:5"],
            vec!["fed", "--device", "tpu"],
            vec!["reproduce", "noise", "--budget", "huge"],
        ] {
            let err = parse(&bad).err().unwrap_or_else(|| panic!("{bad:?} must be refused"));
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad:?}: {err}");
        }
        let Ok(Cli { command: Command::Train(t) }) =
            parse(&["train", "--schedule", "step:10:0.5", "--model", "vgg11-bn"])
        else {
            panic!("train parses");
        };
        assert_eq!(t.model, Some(valley::Arch::Vgg { depth: 11, bn: true }));
        assert!(t.schedule.is_some());
    }

    #[test]
    fn eval_defaults_come_from_eval_config() {
        let Ok(Cli { command: Command::Landscape(a) }) = parse(&["landscape", "--checkpoint", "x.safetensors"]) else {
            panic!("landscape parses");
        };
        let d = valley::eval::EvalConfig::default();
        assert_eq!(a.eval.config(d.bn, None).unwrap(), d);
        // --bn-augment as-trained follows the checkpoint's recorded training; yes/no override it.
        let Ok(Cli { command: Command::Landscape(b) }) =
            parse(&["landscape", "--checkpoint", "x.safetensors", "--bn-augment", "yes"])
        else {
            panic!("landscape parses");
        };
        assert!(b.eval.config(d.bn, None).unwrap().bn_augment);
    }
}
