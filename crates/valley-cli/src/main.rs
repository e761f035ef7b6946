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
    /// Training speed in steps per second (compare with scripts/bench_torch.py).
    Bench(cmd::bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => cmd::train::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Info(a) => cmd::info::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
