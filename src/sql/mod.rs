//! The SQL layer: what drover sends to SQL Server and how it reads the answers.

pub mod quote;
