//! TDS packet framing: reassembling client messages from packets and splitting
//! responses into packets of the negotiated size.

use super::wire::Malformed;

pub const HEADER_LEN: usize = 8;
/// Largest message we accept; bigger ones are hostile or a bug.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Packet size before LOGIN7 negotiates one.
pub const DEFAULT_PACKET_SIZE: usize = 4096;

pub const TY_BATCH: u8 = 0x01;
pub const TY_RPC: u8 = 0x03;
pub const TY_RESPONSE: u8 = 0x04;
pub const TY_ATTENTION: u8 = 0x06;
pub const TY_TRANSACTION: u8 = 0x0E;
pub const TY_LOGIN7: u8 = 0x10;
pub const TY_PRELOGIN: u8 = 0x12;

const STATUS_EOM: u8 = 0x01;

/// One complete client message (all its packets' payloads concatenated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub ty: u8,
    pub payload: Vec<u8>,
}

/// Accumulates raw socket bytes and yields whole messages. Pure (no I/O) so
/// that reading stays cancel-safe: the socket read can be dropped at any time
/// without losing buffered bytes.
#[derive(Default)]
pub struct Reassembler {
    buf: Vec<u8>,
    partial: Option<Message>,
}

impl Reassembler {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a yielded message.
    #[cfg(test)]
    pub fn is_idle(&self) -> bool {
        self.buf.is_empty() && self.partial.is_none()
    }

    /// Next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, Malformed> {
        loop {
            let Some(header) = self.buf.get(..HEADER_LEN) else {
                return Ok(None);
            };
            let ty = header[0];
            let status = header[1];
            let len = u16::from_be_bytes([header[2], header[3]]) as usize;
            if !is_client_type(ty) || len < HEADER_LEN {
                return Err(Malformed);
            }
            if self.buf.len() < len {
                return Ok(None);
            }
            let msg = self.partial.get_or_insert_with(|| Message {
                ty,
                payload: Vec::new(),
            });
            if msg.ty != ty || msg.payload.len() + len - HEADER_LEN > MAX_MESSAGE {
                return Err(Malformed);
            }
            msg.payload.extend_from_slice(&self.buf[HEADER_LEN..len]);
            self.buf.drain(..len);
            if status & STATUS_EOM != 0 {
                return Ok(self.partial.take());
            }
        }
    }
}

/// Packet types a client may send; anything else (e.g. a raw TLS record,
/// 0x16) means the peer does not speak plaintext TDS.
fn is_client_type(ty: u8) -> bool {
    matches!(ty, 0x01 | 0x03 | 0x06 | 0x07 | 0x0E | 0x10 | 0x11 | 0x12)
}

/// Splits `payload` into response packets of at most `packet_size` bytes
/// (header included), EOM on the last. An empty payload is one empty packet.
pub fn frame(ty: u8, payload: &[u8], packet_size: usize, spid: u16) -> Vec<u8> {
    let chunk = packet_size.clamp(512, 32767) - HEADER_LEN;
    let mut out = Vec::with_capacity(payload.len() + (payload.len() / chunk + 1) * HEADER_LEN);
    let mut chunks = payload.chunks(chunk).peekable();
    let mut id: u8 = 1;
    if chunks.peek().is_none() {
        push_packet(&mut out, ty, STATUS_EOM, &[], spid, id);
    }
    while let Some(c) = chunks.next() {
        let status = if chunks.peek().is_none() { STATUS_EOM } else { 0 };
        push_packet(&mut out, ty, status, c, spid, id);
        id = id.wrapping_add(1);
    }
    out
}

fn push_packet(out: &mut Vec<u8>, ty: u8, status: u8, body: &[u8], spid: u16, id: u8) {
    // `body` is at most 32759 bytes, so the total fits the u16 length field.
    let len = (body.len() + HEADER_LEN) as u16;
    out.push(ty);
    out.push(status);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&spid.to_be_bytes());
    out.push(id);
    out.push(0);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_split_messages_across_reads() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let wire = frame(TY_BATCH, &payload, 512, 0);
        assert_eq!(wire.len(), payload.len() + 20 * HEADER_LEN);
        let mut r = Reassembler::default();
        for piece in wire.chunks(333) {
            assert_eq!(r.next_message(), Ok(None));
            r.push(piece);
        }
        let msg = r.next_message().unwrap().unwrap();
        assert_eq!(msg.ty, TY_BATCH);
        assert_eq!(msg.payload, payload);
        assert!(r.is_idle());
    }

    #[test]
    fn frames_respect_packet_size_and_eom() {
        let wire = frame(TY_RESPONSE, &[7u8; 4096], 4096, 51);
        let first_len = u16::from_be_bytes([wire[2], wire[3]]) as usize;
        assert_eq!(first_len, 4096);
        assert_eq!(wire[1], 0);
        assert_eq!(&wire[4..6], &[0, 51]);
        let second = &wire[first_len..];
        assert_eq!(second[1], STATUS_EOM);
        assert_eq!(second.len(), HEADER_LEN + 8);
        assert_eq!(frame(TY_RESPONSE, &[], 4096, 0), vec![4, 1, 0, 8, 0, 0, 1, 0]);
    }

    #[test]
    fn rejects_tls_and_bad_lengths() {
        let mut r = Reassembler::default();
        r.push(&[0x16, 0x03, 0x01, 0x00, 0x50, 0, 0, 0]);
        assert_eq!(r.next_message(), Err(Malformed));
        let mut r = Reassembler::default();
        r.push(&[0x01, 0x01, 0x00, 0x04, 0, 0, 0, 0]);
        assert_eq!(r.next_message(), Err(Malformed));
        let mut r = Reassembler::default();
        r.push(&frame(TY_BATCH, &[1; 600], 512, 0)[..512]);
        r.push(&frame(TY_RPC, &[1; 10], 512, 0));
        assert_eq!(r.next_message(), Err(Malformed));
    }
}
