//! One module per subcommand.

pub mod bench;
pub mod eval;
pub mod fed;
pub mod fusion;
pub mod hessian;
pub mod info;
pub mod landscape;
pub mod reproduce;
pub mod train;
