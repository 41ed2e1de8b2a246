//! Any valid name quoted as an identifier, and any string quoted as an N'' literal, parses back
//! to itself through the simulator's parser (one statement, nothing injected).
#![no_main]

use drover::sim::parse::ast::{AgAction, Literal, Statement};
use drover::sim::parse::parse_batch;
use drover::sql::quote::{quote_ident, quote_literal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, String)| {
    let (name, literal) = input;
    let (Ok(ident), Ok(lit)) = (quote_ident(&name), quote_literal(&literal)) else {
        return;
    };
    let sql = format!(
        "ALTER AVAILABILITY GROUP {ident} MODIFY REPLICA ON {lit} WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT)"
    );
    let statements = parse_batch(&sql).unwrap_or_else(|e| panic!("{sql:?}: {e:?}"));
    assert_eq!(statements.len(), 1, "{sql:?}");
    match &statements[0] {
        Statement::AlterAvailabilityGroup {
            group,
            action: AgAction::ModifyReplicaAvailabilityMode { server: Literal::Str(s), .. },
        } => {
            assert_eq!(group, &name);
            assert_eq!(s, &literal);
        }
        other => panic!("{sql:?} parsed to {other:?}"),
    }
});
