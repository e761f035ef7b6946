//! How instructions reach clients and results come back. [`Simulation`] runs every client
//! in this process on a pool of workers; a networked transport would implement the same
//! [`Transport`] trait and leave strategies and client logic untouched.
//!
//! Reproducibility: every worker computes with one libtorch intra-op thread, and a client's
//! result depends only on (seed, round, client) — its faults, batch order and the global
//! model — never on which worker ran it or when. Parallelism comes from running clients
//! side by side, so `--threads` changes speed, not numbers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rand::Rng;
use tch::Tensor;
use valley::eval::{batch_totals, Eval};
use valley::params::Params;
use valley::rng::{self, tag};
use valley_data::ImageSet;

use crate::client::{local_fit, ClientState, ClientTask, Workspace};
use crate::strategy::{Failure, FitIns, FitOutcome};
use crate::{Error, Result};

/// Delivers instructions to clients and collects their outcomes.
pub trait Transport {
    /// Runs round `round`; the outcomes come back sorted by client id.
    fn fit_round(&mut self, round: usize, instructions: Vec<(usize, FitIns)>) -> Result<Vec<(usize, FitOutcome)>>;

    /// Client-side state to checkpoint (a networked transport keeps none here).
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    fn load_state(&mut self, _get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        Ok(())
    }
}

/// Server-side evaluation of a global model on held-out data.
pub trait Evaluator {
    fn evaluate(&mut self, weights: &Params) -> Eval;
}

/// Simulated faults.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// P(a sampled client returns nothing).
    pub dropout: f64,
    /// P(a sampled client completes only a U(0,1) fraction of its local steps).
    pub stragglers: f64,
}

impl Faults {
    /// Drawn from the stream (seed, FAULTS, round, client): `None` when the client drops
    /// out, else the fraction of local steps it completes.
    pub fn draw(&self, seed: u64, round: usize, client: usize) -> Option<f64> {
        let mut r = rng::stream(seed, &[tag::FAULTS, round as u64, client as u64]);
        let (u_drop, u_slow, fraction): (f64, f64, f64) = (r.random(), r.random(), r.random());
        if u_drop < self.dropout {
            None
        } else if u_slow < self.stragglers {
            Some(fraction)
        } else {
            Some(1.0)
        }
    }
}

/// Every client in this process: their sample indices and state, and a worker pool.
pub struct Simulation<'d> {
    workers: Vec<Workspace>,
    parts: Vec<Vec<usize>>,
    states: Vec<ClientState>,
    images: Option<&'d ImageSet>,
    seed: u64,
    faults: Faults,
    eval_batch: usize,
}

impl<'d> Simulation<'d> {
    pub fn new(
        workers: Vec<Workspace>,
        parts: Vec<Vec<usize>>,
        images: Option<&'d ImageSet>,
        seed: u64,
        faults: Faults,
        eval_batch: usize,
    ) -> Self {
        assert!(!workers.is_empty(), "a simulation needs at least one worker");
        let states = parts.iter().map(|_| ClientState::default()).collect();
        Self { workers, parts, states, images, seed, faults, eval_batch }
    }

    pub fn num_clients(&self) -> usize {
        self.parts.len()
    }
}

/// Runs `jobs` on the workers, each worker pulling the next job when free; results keep
/// the jobs' order. With one worker everything runs on the calling thread.
fn run_jobs<J: Send, R: Send>(
    workers: &mut [Workspace],
    jobs: Vec<J>,
    f: impl Fn(&mut Workspace, J) -> R + Sync,
) -> Vec<R> {
    let n = jobs.len();
    if workers.len() == 1 || n <= 1 {
        let ws = &mut workers[0];
        return jobs.into_iter().map(|j| f(ws, j)).collect();
    }
    let queue: Vec<Mutex<Option<J>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for ws in workers.iter_mut().take(n) {
            let (queue, results, next, f) = (&queue, &results, &next, &f);
            s.spawn(move || {
                // Each worker's kernels run single-threaded, so its floats match any other's.
                tch::set_num_threads(1);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let job = queue[i].lock().map(|mut q| q.take()).ok().flatten();
                    if let Some(job) = job {
                        let r = f(ws, job);
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some(r);
                        }
                    }
                }
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().ok().flatten().expect("every job ran")).collect()
}

struct FitJob {
    client: usize,
    ins: FitIns,
    state: ClientState,
}

impl Transport for Simulation<'_> {
    fn fit_round(&mut self, round: usize, mut instructions: Vec<(usize, FitIns)>) -> Result<Vec<(usize, FitOutcome)>> {
        instructions.sort_by_key(|(k, _)| *k);
        let jobs: Vec<FitJob> = instructions
            .into_iter()
            .map(|(client, ins)| FitJob { client, ins, state: std::mem::take(&mut self.states[client]) })
            .collect();
        let (parts, images, seed, faults) = (&self.parts, self.images, self.seed, self.faults);
        let outcomes = run_jobs(&mut self.workers, jobs, |ws, mut job| {
            let indices = parts[job.client].as_slice();
            let outcome = match faults.draw(seed, round, job.client) {
                None => Ok(Err(Failure::Dropped)),
                Some(_) if indices.is_empty() => Ok(Err(Failure::NoData)),
                Some(fraction) => {
                    let task = ClientTask { round, client: job.client, seed, indices, images, fraction };
                    local_fit(ws, &task, &mut job.state, &job.ins).map(Ok)
                }
            };
            (job.client, job.state, outcome)
        });
        let mut out = Vec::with_capacity(outcomes.len());
        for (client, state, outcome) in outcomes {
            self.states[client] = state;
            out.push((client, outcome?));
        }
        Ok(out)
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (k, s) in self.states.iter().enumerate() {
            for (j, g) in s.correction.iter().flatten().enumerate() {
                out.push((format!("client.{k}.correction.{j}"), g.shallow_clone()));
            }
            if let Some(p) = &s.previous {
                out.extend(p.named(&format!("client.{k}.previous.")));
            }
        }
        out
    }

    fn load_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        let like = Params::state_of(&self.workers[0].model);
        for (k, s) in self.states.iter_mut().enumerate() {
            let g: Vec<Tensor> = (0..).map_while(|j| get(&format!("client.{k}.correction.{j}"))).collect();
            s.correction = (!g.is_empty()).then_some(g);
            let prefix = format!("client.{k}.previous.");
            s.previous = Params::from_named_like(&like, &prefix, get);
            if s.previous.is_none() && get(&format!("{prefix}{}", like.names[0])).is_some() {
                return Err(Error::MoonState { client: k });
            }
        }
        Ok(())
    }
}

impl Evaluator for Simulation<'_> {
    /// Mean cross-entropy and accuracy over the test set, in chunks of `eval_batch`
    /// spread over the workers and summed in chunk order (so independent of the workers).
    fn evaluate(&mut self, weights: &Params) -> Eval {
        let n = self.workers[0].test.len();
        let b = self.eval_batch.max(1);
        let jobs: Vec<(usize, Params)> = (0..n).step_by(b).map(|s| (s, weights.share())).collect();
        let parts = run_jobs(&mut self.workers, jobs, |ws, (start, w)| {
            w.write_to(&ws.model);
            tch::no_grad(|| {
                let (x, y) = ws.test.slice(start, b.min(n - start));
                batch_totals(&ws.model, &x, &y)
            })
        });
        let (loss, correct) = parts.iter().fold((0.0, 0i64), |(l, c), (pl, pc)| (l + pl, c + pc));
        let n = n.max(1) as f64;
        Eval { loss: loss / n, accuracy: correct as f64 / n }
    }
}
