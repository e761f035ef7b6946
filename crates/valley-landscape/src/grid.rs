//! λ grids: see [`valley::grid`].

pub use valley::grid::{parse_f64_list, parse_lambdas};
