//! Response token encoders (MS-TDS 2.2.7) and the assembly of whole
//! responses: login replies and the token stream for a list of outcomes.

use super::login::Version;
use super::types;
use super::wire::{put_b_varchar, put_us_varchar, put_with_u16_len};
use crate::sim::table::{Outcome, ServerError};

const ENVCHANGE: u8 = 0xE3;
const LOGINACK: u8 = 0xAD;
const ERROR: u8 = 0xAA;
const INFO: u8 = 0xAB;
const RETURNSTATUS: u8 = 0x79;
pub const DONE: u8 = 0xFD;
pub const DONEPROC: u8 = 0xFE;
pub const DONEINPROC: u8 = 0xFF;

pub const DONE_MORE: u16 = 0x0001;
pub const DONE_ERROR: u16 = 0x0002;
pub const DONE_COUNT: u16 = 0x0010;
pub const DONE_ATTN: u16 = 0x0020;
const CMD_SELECT: u16 = 0x00C1;

/// SQL_Latin1_General_CP1_CI_AS, the collation every string column reports.
pub const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// Longest message we put in an ERROR/INFO token, so its u16 length never overflows.
const MAX_MESSAGE_CHARS: usize = 4000;

/// Per-connection facts the encoders need.
pub struct Ctx<'a> {
    pub version: Version,
    pub server: &'a str,
}

pub fn env_change(buf: &mut Vec<u8>, ty: u8, new: &str, old: &str) {
    let mut body = vec![ty];
    put_b_varchar(&mut body, new);
    put_b_varchar(&mut body, old);
    put_with_u16_len(buf, ENVCHANGE, &body);
}

/// ERROR (0xAA) or INFO (0xAB); both share one layout.
pub fn message(buf: &mut Vec<u8>, ctx: &Ctx, token: u8, e: &ServerError) {
    let mut body = Vec::new();
    body.extend_from_slice(&e.number.to_le_bytes());
    body.push(e.state);
    body.push(e.class);
    let text: String = e.message.chars().take(MAX_MESSAGE_CHARS).collect();
    put_us_varchar(&mut body, &text);
    put_b_varchar(&mut body, ctx.server);
    put_b_varchar(&mut body, "");
    if ctx.version.is_72_plus() {
        body.extend_from_slice(&1u32.to_le_bytes());
    } else {
        body.extend_from_slice(&1u16.to_le_bytes());
    }
    put_with_u16_len(buf, token, &body);
}

pub fn error(buf: &mut Vec<u8>, ctx: &Ctx, e: &ServerError) {
    message(buf, ctx, ERROR, e);
}

pub fn info(buf: &mut Vec<u8>, ctx: &Ctx, number: u32, state: u8, text: &str) {
    let e = ServerError {
        number,
        state,
        class: 0,
        message: text.to_string(),
    };
    message(buf, ctx, INFO, &e);
}

pub fn done(buf: &mut Vec<u8>, ctx: &Ctx, token: u8, status: u16, cmd: u16, rows: u64) {
    buf.push(token);
    buf.extend_from_slice(&status.to_le_bytes());
    buf.extend_from_slice(&cmd.to_le_bytes());
    if ctx.version.is_72_plus() {
        buf.extend_from_slice(&rows.to_le_bytes());
    } else {
        buf.extend_from_slice(&(rows.min(u32::MAX as u64) as u32).to_le_bytes());
    }
}

/// The whole successful login reply, in the order SQL Server sends it.
pub fn login_ack(ctx: &Ctx, database: &str, packet_size: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    env_change(&mut buf, 1, database, "master");
    let changed = format!("Changed database context to '{database}'.");
    info(&mut buf, ctx, 5701, 2, &changed);
    env_change(&mut buf, 2, "us_english", "");
    info(&mut buf, ctx, 5703, 1, "Changed language setting to us_english.");
    let mut collation = vec![7, COLLATION.len() as u8];
    collation.extend_from_slice(&COLLATION);
    collation.push(0);
    put_with_u16_len(&mut buf, ENVCHANGE, &collation);
    env_change(&mut buf, 4, &packet_size.to_string(), "4096");
    let mut ack = vec![1];
    ack.extend_from_slice(&ctx.version.0.to_be_bytes());
    put_b_varchar(&mut ack, "Microsoft SQL Server");
    ack.extend_from_slice(&[16, 0, 0x10, 0x27]); // 16.0 build 4135
    put_with_u16_len(&mut buf, LOGINACK, &ack);
    done(&mut buf, ctx, DONE, 0, 0, 0);
    buf
}

/// A failed login: the error and a final DONE with the error bit.
pub fn login_failed(ctx: &Ctx, e: &ServerError) -> Vec<u8> {
    let mut buf = Vec::new();
    error(&mut buf, ctx, e);
    done(&mut buf, ctx, DONE, DONE_ERROR, 0, 0);
    buf
}

/// How a request's statements are closed: plain DONE for a SQL batch;
/// DONEINPROC, RETURNSTATUS and a final DONEPROC for an RPC, as SQL Server does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Batch,
    Rpc,
}

/// Encodes outcomes in order. Every DONE but the last carries MORE.
pub fn outcomes(ctx: &Ctx, framing: Framing, outcomes: &[Outcome]) -> Vec<u8> {
    let mut buf = Vec::new();
    let token = match framing {
        Framing::Batch => DONE,
        Framing::Rpc => DONEINPROC,
    };
    // Offset of the status field of the DONE that ends `buf`, if one does.
    let mut trailing_done: Option<usize> = None;
    for outcome in outcomes {
        let (status, cmd, rows) = match outcome {
            Outcome::Rows(rs) => match types::result_set(rs, ctx.version) {
                Ok(bytes) => {
                    buf.extend_from_slice(&bytes);
                    (DONE_COUNT, CMD_SELECT, rs.rows.len() as u64)
                }
                Err(e) => {
                    error(&mut buf, ctx, &e);
                    (DONE_ERROR, CMD_SELECT, 0)
                }
            },
            Outcome::Done { rows_affected } => match rows_affected {
                Some(n) => (DONE_COUNT, CMD_SELECT, *n),
                None => (0, 0, 0),
            },
            Outcome::Info { number, message } => {
                info(&mut buf, ctx, *number, 1, message);
                trailing_done = None;
                continue;
            }
            Outcome::Error(e) => {
                error(&mut buf, ctx, e);
                (DONE_ERROR, 0, 0)
            }
        };
        trailing_done = Some(buf.len() + 1);
        done(&mut buf, ctx, token, status | DONE_MORE, cmd, rows);
    }
    match framing {
        Framing::Rpc => {
            buf.push(RETURNSTATUS);
            buf.extend_from_slice(&0i32.to_le_bytes());
            done(&mut buf, ctx, DONEPROC, 0, 0, 0);
        }
        Framing::Batch => match trailing_done {
            Some(pos) => buf[pos] &= !(DONE_MORE as u8),
            None => done(&mut buf, ctx, DONE, 0, 0, 0),
        },
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: Ctx = Ctx {
        version: Version(super::super::login::TDS_74),
        server: "S",
    };

    #[test]
    fn empty_outcomes_is_one_final_done() {
        assert_eq!(
            outcomes(&CTX, Framing::Batch, &[]),
            vec![DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn rows_count_and_error_keep_their_order() {
        use crate::sim::table::{Column, ResultSet, SqlType, Value};
        let rs = ResultSet {
            columns: vec![Column::new("v", SqlType::Int, false)],
            rows: vec![vec![Value::Int(1)]],
        };
        let out = [
            Outcome::Rows(rs),
            Outcome::Done { rows_affected: Some(3) },
            Outcome::Error(ServerError::new(50000, 16, "x")),
        ];
        let buf = outcomes(&CTX, Framing::Batch, &out);
        // COLMETADATA: token, count, usertype, flags, INTN 4, name "v".
        assert_eq!(&buf[..14], &[0x81, 1, 0, 0, 0, 0, 0, 8, 0, 0x26, 4, 1, b'v', 0]);
        assert_eq!(&buf[14..20], &[0xD1, 4, 1, 0, 0, 0]);
        assert_eq!(&buf[20..25], &[DONE, 0x11, 0, 0xC1, 0]);
        assert_eq!(buf[25], 1);
        assert_eq!(&buf[33..36], &[DONE, 0x11, 0]);
        assert_eq!(buf[46], ERROR);
        assert_eq!(&buf[buf.len() - 13..buf.len() - 10], &[DONE, 0x02, 0]);

        let rpc = outcomes(&CTX, Framing::Rpc, &[]);
        assert_eq!(rpc, [&[RETURNSTATUS, 0, 0, 0, 0, DONEPROC][..], &[0; 12]].concat());
    }

    #[test]
    fn last_done_has_no_more_bit() {
        let out = [
            Outcome::Done { rows_affected: Some(3) },
            Outcome::Done { rows_affected: None },
        ];
        let buf = outcomes(&CTX, Framing::Batch, &out);
        assert_eq!(buf.len(), 26);
        assert_eq!(&buf[1..3], &[0x11, 0]);
        assert_eq!(&buf[14..16], &[0, 0]);
    }
}
