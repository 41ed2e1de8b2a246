//! LOGIN7 decoding (MS-TDS 2.2.6.4) and the TDS version we agree on.

use super::LoginRequest;
use super::wire::{Malformed, Reader, utf16_to_string};

/// TDS versions we echo back in LOGINACK (all known to tiberius and FreeTDS).
/// TDS 7.0 is left out: it has no collations, which every string here carries.
const KNOWN_VERSIONS: [u32; 6] = [
    0x7400_0004,
    0x730B_0003,
    0x730A_0003,
    0x7209_0002,
    0x7100_0001,
    0x7100_0000,
];
pub const TDS_74: u32 = 0x7400_0004;
const TDS_72: u32 = 0x7209_0002;

/// The protocol level of a connection: decides a few field widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version(pub u32);

impl Version {
    /// The version we answer a client that asked for `requested`.
    pub fn negotiate(requested: u32) -> Self {
        if KNOWN_VERSIONS.contains(&requested) {
            Version(requested)
        } else {
            Version(TDS_74)
        }
    }

    /// TDS 7.2 added ALL_HEADERS, u64 DONE row counts and u32 line numbers.
    pub fn is_72_plus(self) -> bool {
        self.0 >= TDS_72
    }
}

/// A decoded LOGIN7 with the bits the server acts on.
#[derive(Debug)]
pub struct Login7 {
    pub request: LoginRequest,
    pub packet_size: u32,
    pub integrated_security: bool,
}

/// Inverse of the client's obfuscation (swap nibbles, then XOR 0xA5).
pub fn decode_password(raw: &[u8]) -> Option<String> {
    let plain: Vec<u8> = raw.iter().map(|b| (b ^ 0xA5).rotate_left(4)).collect();
    utf16_to_string(&plain)
}

pub fn parse(payload: &[u8]) -> Result<Login7, Malformed> {
    let mut r = Reader::new(payload);
    let _length = r.u32()?;
    let tds_version = r.u32()?;
    let packet_size = r.u32()?;
    r.bytes(12)?; // ClientProgVer, ClientPID, ConnectionID
    let _flags1 = r.u8()?;
    let flags2 = r.u8()?;
    r.bytes(2 + 8)?; // TypeFlags, OptionFlags3, ClientTimeZone, ClientLCID
    // OffsetLength pairs: HostName, UserName, Password, AppName, ServerName,
    // Extension, CltIntName, Language, Database.
    let mut fields = [(0usize, 0usize); 9];
    for f in &mut fields {
        *f = (r.u16()? as usize, r.u16()? as usize);
    }
    let slice = |(off, chars): (usize, usize)| -> Result<&[u8], Malformed> {
        let end = off.checked_add(chars * 2).ok_or(Malformed)?;
        payload.get(off..end).ok_or(Malformed)
    };
    let text = |f| utf16_to_string(slice(f)?).ok_or(Malformed);
    let database = text(fields[8])?;
    Ok(Login7 {
        request: LoginRequest {
            host_name: text(fields[0])?,
            user: text(fields[1])?,
            password: decode_password(slice(fields[2])?).ok_or(Malformed)?,
            app_name: text(fields[3])?,
            database: (!database.is_empty()).then_some(database),
            tds_version,
        },
        packet_size,
        integrated_security: flags2 & 0x80 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obfuscate(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        super::super::wire::put_utf16(&mut out, s);
        out.iter().map(|b| b.rotate_left(4) ^ 0xA5).collect()
    }

    #[test]
    fn password_round_trips() {
        for pw in ["", "s3cret!", "pässwörd✓"] {
            assert_eq!(decode_password(&obfuscate(pw)).as_deref(), Some(pw));
        }
        // Known vector: 'a' (0x61 0x00) obfuscates to 0xB3 0xA5.
        assert_eq!(obfuscate("a"), vec![0xB3, 0xA5]);
    }

    #[test]
    fn negotiates_known_versions_only() {
        assert_eq!(Version::negotiate(0x730B_0003).0, 0x730B_0003);
        assert_eq!(Version::negotiate(0x0800_0000).0, TDS_74);
        assert!(!Version::negotiate(0x7100_0001).is_72_plus());
    }

    #[test]
    fn truncated_login_is_malformed() {
        assert!(parse(&[0; 40]).is_err());
        let mut bad = vec![0u8; 94];
        bad[36] = 200; // HostName offset beyond the payload
        bad[38] = 5;
        assert!(parse(&bad).is_err());
    }
}
