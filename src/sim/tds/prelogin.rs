//! PRELOGIN: we parse the client's option table only to validate it, and
//! always answer "encryption not supported" (the simulator speaks plaintext).

use super::wire::{Malformed, Reader};

const VERSION: u8 = 0x00;
const ENCRYPTION: u8 = 0x01;
const TERMINATOR: u8 = 0xFF;
const ENCRYPT_NOT_SUP: u8 = 0x02;

/// What the client asked for; kept for logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prelogin {
    pub encryption: Option<u8>,
}

/// Parses the option table, checking that each option lies inside the payload.
pub fn parse(payload: &[u8]) -> Result<Prelogin, Malformed> {
    let mut r = Reader::new(payload);
    let mut out = Prelogin { encryption: None };
    let mut saw_version = false;
    loop {
        let token = r.u8()?;
        if token == TERMINATOR {
            break;
        }
        // Offsets and lengths are big-endian here, unlike the rest of TDS.
        let off = u16::from_be_bytes(r.array()?) as usize;
        let len = u16::from_be_bytes(r.array()?) as usize;
        let data = payload.get(off..off.checked_add(len).ok_or(Malformed)?);
        let data = data.ok_or(Malformed)?;
        match token {
            VERSION => saw_version = len >= 6,
            ENCRYPTION => out.encryption = Some(*data.first().ok_or(Malformed)?),
            0x02..=0x08 => {}
            _ => return Err(Malformed),
        }
    }
    if !saw_version {
        return Err(Malformed);
    }
    Ok(out)
}

/// VERSION 16.0.4135, ENCRYPTION = NOT_SUP, INSTOPT 00, THREADID empty, MARS off.
pub fn response() -> Vec<u8> {
    let options: [(u8, &[u8]); 5] = [
        (VERSION, &[16, 0, 0x10, 0x27, 0, 0]),
        (ENCRYPTION, &[ENCRYPT_NOT_SUP]),
        (0x02, &[0]),
        (0x03, &[]),
        (0x04, &[0]),
    ];
    let mut table = Vec::new();
    let mut data = Vec::new();
    let mut offset = options.len() * 5 + 1;
    for (token, value) in options {
        table.push(token);
        table.extend_from_slice(&(offset as u16).to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
        offset += value.len();
    }
    table.push(TERMINATOR);
    table.extend_from_slice(&data);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_parses_back() {
        let resp = response();
        assert_eq!(parse(&resp).unwrap().encryption, Some(ENCRYPT_NOT_SUP));
    }

    #[test]
    fn rejects_garbage_and_out_of_range() {
        assert_eq!(parse(&[]), Err(Malformed));
        assert_eq!(parse(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), Err(Malformed));
        assert_eq!(parse(&[0, 0, 6, 0, 6, 0xFF]), Err(Malformed));
    }
}
