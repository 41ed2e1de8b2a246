//! The simulated SQL Server's strict T-SQL parser. Anything it does not
//! understand is a syntax error (102), never silently accepted, so drover
//! cannot rely on SQL the real server would reject.

pub mod ast;
mod keywords;
mod lexer;
mod parser;
mod pool;
#[cfg(test)]
mod pool_tests;
mod set;
mod terms;
#[cfg(test)]
mod tests;

use crate::sim::table::ServerError;

/// Parses a whole batch. A syntax error anywhere fails the whole batch (SQL Server compiles the batch before running any of it).
pub fn parse_batch(sql: &str) -> Result<Vec<ast::Statement>, ServerError> {
    let tokens = lexer::lex(sql)?;
    parser::Parser::new(tokens).batch()
}
