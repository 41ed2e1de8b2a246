//! Checked little-endian reads over client-supplied bytes and the string
//! writers every token uses. Every read returns `Malformed` instead of
//! panicking, so a hostile client can only get its connection closed.

/// The client sent bytes that do not parse; the connection gets closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A cursor over a received message.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).ok_or(Malformed)?;
        let out = self.buf.get(self.pos..end).ok_or(Malformed)?;
        self.pos = end;
        Ok(out)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `chars` UTF-16 code units, as B_VARCHAR/US_VARCHAR bodies carry them.
    pub fn utf16(&mut self, chars: usize) -> Result<String, Malformed> {
        let raw = self.bytes(chars.checked_mul(2).ok_or(Malformed)?)?;
        utf16_to_string(raw).ok_or(Malformed)
    }

    pub fn b_varchar(&mut self) -> Result<String, Malformed> {
        let n = self.u8()? as usize;
        self.utf16(n)
    }
}

/// Strict UTF-16LE decoding; `None` on odd length or unpaired surrogates.
pub fn utf16_to_string(raw: &[u8]) -> Option<String> {
    if !raw.len().is_multiple_of(2) {
        return None;
    }
    let units = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units).collect::<Result<String, _>>().ok()
}

pub fn put_utf16(buf: &mut Vec<u8>, s: &str) {
    for u in s.encode_utf16() {
        buf.extend_from_slice(&u.to_le_bytes());
    }
}

/// B_VARCHAR: u8 character count; longer strings are cut at 255 units
/// (only server-chosen names go here, so cutting never desyncs the stream).
pub fn put_b_varchar(buf: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(255).collect();
    buf.push(units.len() as u8);
    for u in units {
        buf.extend_from_slice(&u.to_le_bytes());
    }
}

/// US_VARCHAR: u16 character count (cut at 65535 units).
pub fn put_us_varchar(buf: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(u16::MAX as usize).collect();
    buf.extend_from_slice(&(units.len() as u16).to_le_bytes());
    for u in units {
        buf.extend_from_slice(&u.to_le_bytes());
    }
}

/// Writes a token whose body is prefixed by its u16 LE length.
pub fn put_with_u16_len(buf: &mut Vec<u8>, token: u8, body: &[u8]) {
    buf.push(token);
    let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&body[..len as usize]);
}
