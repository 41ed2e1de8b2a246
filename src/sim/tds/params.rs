//! TYPE_INFO plus value of RPC parameters, for the types tiberius, FreeTDS
//! and python-tds send, mapped onto the simulator's [`Value`]s.

use super::types::{civil_datetime, guid_to_wire, legacy_to_datetime};
use super::wire::{Malformed, Reader};
use crate::sim::table::Value;

/// TYPE_INFO and value of one parameter. `Ok(Err(ty))` for a type we do not decode.
pub fn param_value(r: &mut Reader) -> Result<Result<Value, u8>, Malformed> {
    let ty = r.u8()?;
    let v = match ty {
        0x1F => Value::Null,
        0x30 => Value::Int(r.u8()?.into()),
        0x32 => Value::Bit(r.u8()? != 0),
        0x34 => Value::Int(i16::from_le_bytes(r.array()?).into()),
        0x38 => Value::Int(i32::from_le_bytes(r.array()?).into()),
        0x7F => Value::Int(i64::from_le_bytes(r.array()?)),
        0x3B | 0x3E | 0x3D | 0x3A | 0x3C | 0x7A => {
            let len = match ty {
                0x3B | 0x3A | 0x7A => 4,
                _ => 8,
            };
            fixed_value(ty, r.bytes(len)?)?
        }
        // INTN, BITN, FLTN, MONEYN, DATETIMN, GUID: size, then a u8-prefixed value.
        0x26 | 0x68 | 0x6D | 0x6E | 0x6F | 0x24 => {
            r.u8()?;
            let len = r.u8()? as usize;
            if len == 0 {
                Value::Null
            } else {
                let bytes = r.bytes(len)?;
                let fixed = match (ty, len) {
                    (0x26, 1) => 0x30,
                    (0x26, 2) => 0x34,
                    (0x26, 4) => 0x38,
                    (0x26, 8) => 0x7F,
                    (0x68, 1) => 0x32,
                    (0x6D, 4) => 0x3B,
                    (0x6D, 8) => 0x3E,
                    (0x6E, 4) => 0x7A,
                    (0x6E, 8) => 0x3C,
                    (0x6F, 4) => 0x3A,
                    (0x6F, 8) => 0x3D,
                    (0x24, 16) => 0x24,
                    _ => return Err(Malformed),
                };
                fixed_value(fixed, bytes)?
            }
        }
        0x6A | 0x6C => {
            r.u8()?;
            r.u8()?; // precision
            let scale = r.u8()?;
            let len = r.u8()? as usize;
            if len == 0 {
                Value::Null
            } else {
                decimal(r.bytes(len)?, scale)?
            }
        }
        0x28..=0x2B => date_time(r, ty)?,
        // NVARCHAR, NCHAR, BIGVARCHAR, BIGCHAR (with collation), BIGVARBINARY, BIGBINARY.
        0xE7 | 0xEF | 0xA7 | 0xAF | 0xA5 | 0xAD => {
            let max = r.u16()?;
            if matches!(ty, 0xE7 | 0xEF | 0xA7 | 0xAF) {
                r.bytes(5)?;
            }
            let data = if max == 0xFFFF {
                plp(r)?
            } else {
                match r.u16()? {
                    0xFFFF => None,
                    n => Some(r.bytes(n as usize)?.to_vec()),
                }
            };
            data.map_or(Value::Null, |d| text_value(ty, d))
        }
        // NTEXT, TEXT (with collation), IMAGE: u32 max, then a u32-prefixed value.
        0x63 | 0x23 | 0x22 => {
            r.u32()?;
            if ty != 0x22 {
                r.bytes(5)?;
            }
            match r.u32()? {
                u32::MAX => Value::Null,
                n => text_value(ty, r.bytes(n as usize)?.to_vec()),
            }
        }
        other => return Ok(Err(other)),
    };
    Ok(Ok(v))
}

/// Character data as text: UTF-16 for the N types, UTF-8 or else Latin-1
/// for the 8-bit ones, hex for binary.
fn text_value(ty: u8, d: Vec<u8>) -> Value {
    Value::Str(match ty {
        0xE7 | 0xEF | 0x63 => {
            let units = d.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        0xA7 | 0xAF | 0x23 => {
            String::from_utf8(d).unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect())
        }
        _ => d.iter().fold("0x".to_string(), |s, b| s + &format!("{b:02X}")),
    })
}

/// Values of fixed-length types (also INTN & co. once their length is known).
fn fixed_value(ty: u8, b: &[u8]) -> Result<Value, Malformed> {
    let mut r = Reader::new(b);
    Ok(match ty {
        0x30 => Value::Int(r.u8()?.into()),
        0x32 => Value::Bit(r.u8()? != 0),
        0x34 => Value::Int(i16::from_le_bytes(r.array()?).into()),
        0x38 => Value::Int(i32::from_le_bytes(r.array()?).into()),
        0x7F => Value::Int(i64::from_le_bytes(r.array()?)),
        0x3B => Value::Str(f32::from_le_bytes(r.array()?).to_string()),
        0x3E => Value::Str(f64::from_le_bytes(r.array()?).to_string()),
        0x7A => Value::Str(scaled(i32::from_le_bytes(r.array()?).into(), 4)),
        0x3C => {
            let hi = i64::from(i32::from_le_bytes(r.array()?));
            let lo = i64::from(r.u32()?);
            Value::Str(scaled(((hi << 32) | lo).into(), 4))
        }
        0x3D => {
            let days = i32::from_le_bytes(r.array()?);
            legacy_to_datetime(days, r.u32()?).map_or(Value::Null, Value::DateTime)
        }
        0x3A => {
            let days = r.u16()?;
            let minutes = r.u16()?;
            legacy_to_datetime(days.into(), u32::from(minutes) * 60 * 300).map_or(Value::Null, Value::DateTime)
        }
        0x24 => Value::Guid(guid_to_wire(r.array()?)),
        _ => return Err(Malformed),
    })
}

/// DECIMALN/NUMERICN value bytes: sign (1 = positive) then LE magnitude.
fn decimal(b: &[u8], scale: u8) -> Result<Value, Malformed> {
    let (&sign, mag) = b.split_first().ok_or(Malformed)?;
    if mag.len() > 16 {
        return Err(Malformed);
    }
    let mut raw = [0u8; 16];
    raw[..mag.len()].copy_from_slice(mag);
    let magnitude = i128::try_from(u128::from_le_bytes(raw)).map_err(|_| Malformed)?;
    let v = if sign == 0 { -magnitude } else { magnitude };
    // The contract's Numeric is unscaled; keep fractional values exact as text.
    Ok(if scale == 0 {
        Value::Numeric(v)
    } else {
        Value::Str(scaled(v, scale))
    })
}

/// `v / 10^scale` as exact decimal text.
fn scaled(v: i128, scale: u8) -> String {
    let digits = v.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
}

/// DATEN, TIMEN, DATETIME2N and DATETIMEOFFSETN (TDS 7.3).
fn date_time(r: &mut Reader, ty: u8) -> Result<Value, Malformed> {
    let scale = if ty == 0x28 { 0 } else { r.u8()? };
    if scale > 7 {
        return Err(Malformed);
    }
    let len = r.u8()? as usize;
    if len == 0 {
        return Ok(Value::Null);
    }
    let mut v = Reader::new(r.bytes(len)?);
    let time_len = match (ty, scale) {
        (0x28, _) => 0,
        (_, 0..=2) => 3,
        (_, 3..=4) => 4,
        _ => 5,
    };
    let mut t = [0u8; 8];
    t[..time_len].copy_from_slice(v.bytes(time_len)?);
    let nanos = i64::from_le_bytes(t) * 10i64.pow(9 - u32::from(scale));
    if ty == 0x29 {
        return civil_datetime(0, nanos)
            .map(|dt| Value::Str(dt.time().to_string()))
            .ok_or(Malformed);
    }
    let mut d = [0u8; 4];
    d[..3].copy_from_slice(v.bytes(3)?);
    let days = i64::from(u32::from_le_bytes(d));
    let mut dt = civil_datetime(days, nanos).ok_or(Malformed)?;
    if ty == 0x2B {
        // Stored as UTC plus the offset in minutes; hand the backend local time.
        let offset = i16::from_le_bytes(v.array()?);
        dt = dt
            .checked_add(jiff::Span::new().minutes(offset))
            .map_err(|_| Malformed)?;
    }
    Ok(Value::DateTime(dt))
}

/// A PLP body: u64 total length (all ones = NULL), then u32-prefixed chunks up to a 0 chunk.
fn plp(r: &mut Reader) -> Result<Option<Vec<u8>>, Malformed> {
    if r.u64()? == u64::MAX {
        return Ok(None);
    }
    let mut out = Vec::new();
    loop {
        let n = r.u32()? as usize;
        if n == 0 {
            return Ok(Some(out));
        }
        out.extend_from_slice(r.bytes(n)?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_and_numeric() {
        assert_eq!(scaled(-5, 2), "-0.05");
        assert_eq!(scaled(12345, 2), "123.45");
        assert_eq!(decimal(&[1, 42, 0, 0, 0], 0), Ok(Value::Numeric(42)));
        assert_eq!(decimal(&[0, 42, 0, 0, 0], 1), Ok(Value::Str("-4.2".into())));
    }

    #[test]
    fn plp_chunks_and_null() {
        let mut wire = vec![0xFE; 8];
        wire.extend_from_slice(&[2, 0, 0, 0, b'a', 0, 1, 0, 0, 0, b'b', 0, 0, 0, 0]);
        assert_eq!(plp(&mut Reader::new(&wire)), Ok(Some(b"a\0b".to_vec())));
        assert_eq!(plp(&mut Reader::new(&[0xFF; 8])), Ok(None));
        assert_eq!(plp(&mut Reader::new(&wire[..12])), Err(Malformed));
    }
}
