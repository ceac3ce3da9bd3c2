//! Support for tests/infra_consistency.rs: a parser for the Bicep subset infra/ uses, the code
//! side of the contract, and the checks between the two.

pub mod bicep;
pub mod checks;
pub mod contract;
