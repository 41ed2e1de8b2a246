//! COLMETADATA and ROW encoding of simulator result sets, plus the calendar
//! arithmetic shared with parameter decoding. Every column is sent as a
//! nullable variable-length type so NULLs need no special casing.

use super::login::Version;
use super::tokens::COLLATION;
use super::wire::put_b_varchar;
use crate::sim::table::{Column, ResultSet, ServerError, SqlType, Value};

const COLMETADATA: u8 = 0x81;
const ROW: u8 = 0xD1;
const INTN: u8 = 0x26;
const BITN: u8 = 0x68;
const NUMERICN: u8 = 0x6C;
const DATETIMN: u8 = 0x6F;
const GUIDTYPE: u8 = 0x24;
const NVARCHAR: u8 = 0xE7;
const BIGCHAR: u8 = 0xAF;
const BIGVARCHAR: u8 = 0xA7;

const FLAG_NULLABLE: u16 = 0x0001;
/// usUpdateable = "unknown", which SQL Server reports for expression columns.
const FLAG_UPDATEABLE_UNKNOWN: u16 = 0x0008;

/// Encodes COLMETADATA and one ROW per row. A value that does not fit its
/// column is a simulator bug; it becomes an error rather than a corrupt stream.
pub fn result_set(rs: &ResultSet, version: Version) -> Result<Vec<u8>, ServerError> {
    let mut buf = vec![COLMETADATA];
    let count = u16::try_from(rs.columns.len()).map_err(|_| mismatch("too many columns"))?;
    buf.extend_from_slice(&count.to_le_bytes());
    for col in &rs.columns {
        // UserType: a u32 since TDS 7.2, a u16 before.
        if version.is_72_plus() {
            buf.extend_from_slice(&0u32.to_le_bytes());
        } else {
            buf.extend_from_slice(&0u16.to_le_bytes());
        }
        let mut flags = FLAG_UPDATEABLE_UNKNOWN;
        if col.nullable {
            flags |= FLAG_NULLABLE;
        }
        buf.extend_from_slice(&flags.to_le_bytes());
        type_info(&mut buf, col.ty);
        put_b_varchar(&mut buf, &col.name);
    }
    for row in &rs.rows {
        if row.len() != rs.columns.len() {
            return Err(mismatch("row width differs from the column count"));
        }
        buf.push(ROW);
        for (col, value) in rs.columns.iter().zip(row) {
            put_value(&mut buf, col, value)?;
        }
    }
    Ok(buf)
}

fn mismatch(what: &str) -> ServerError {
    ServerError::new(50000, 16, format!("simulator result set is invalid: {what}"))
}

/// `nvarchar(n)` as sent: n clamped to 1..=4000 characters.
fn nvarchar_max_bytes(n: u16) -> u16 {
    n.clamp(1, 4000) * 2
}

/// Bytes of a NUMERICN value (sign byte included) for a precision, as SQL Server sizes them.
fn numeric_size(precision: u8) -> u8 {
    match precision {
        0..=9 => 5,
        10..=19 => 9,
        20..=28 => 13,
        _ => 17,
    }
}

fn type_info(buf: &mut Vec<u8>, ty: SqlType) {
    match ty {
        SqlType::TinyInt => buf.extend_from_slice(&[INTN, 1]),
        SqlType::SmallInt => buf.extend_from_slice(&[INTN, 2]),
        SqlType::Int => buf.extend_from_slice(&[INTN, 4]),
        SqlType::BigInt => buf.extend_from_slice(&[INTN, 8]),
        SqlType::Bit => buf.extend_from_slice(&[BITN, 1]),
        SqlType::Numeric { precision, scale } => {
            let p = precision.clamp(1, 38);
            buf.extend_from_slice(&[NUMERICN, numeric_size(p), p, scale.min(p)]);
        }
        SqlType::DateTime => buf.extend_from_slice(&[DATETIMN, 8]),
        SqlType::UniqueIdentifier => buf.extend_from_slice(&[GUIDTYPE, 16]),
        SqlType::NVarChar(n) => {
            buf.push(NVARCHAR);
            buf.extend_from_slice(&nvarchar_max_bytes(n).to_le_bytes());
            buf.extend_from_slice(&COLLATION);
        }
        SqlType::Char(n) => {
            buf.push(BIGCHAR);
            buf.extend_from_slice(&n.clamp(1, 8000).to_le_bytes());
            buf.extend_from_slice(&COLLATION);
        }
        SqlType::VarChar(n) => {
            buf.push(BIGVARCHAR);
            buf.extend_from_slice(&n.clamp(1, 8000).to_le_bytes());
            buf.extend_from_slice(&COLLATION);
        }
    }
}

fn put_value(buf: &mut Vec<u8>, col: &Column, value: &Value) -> Result<(), ServerError> {
    let bad = || mismatch(&format!("{value:?} in column '{}' ({:?})", col.name, col.ty));
    match (col.ty, value) {
        (SqlType::NVarChar(_) | SqlType::Char(_) | SqlType::VarChar(_), Value::Null) => {
            buf.extend_from_slice(&[0xFF, 0xFF])
        }
        (_, Value::Null) => buf.push(0),
        (SqlType::TinyInt, Value::Int(v)) => put_sized(buf, &u8::try_from(*v).map_err(|_| bad())?.to_le_bytes()),
        (SqlType::SmallInt, Value::Int(v)) => put_sized(buf, &i16::try_from(*v).map_err(|_| bad())?.to_le_bytes()),
        (SqlType::Int, Value::Int(v)) => put_sized(buf, &i32::try_from(*v).map_err(|_| bad())?.to_le_bytes()),
        (SqlType::BigInt, Value::Int(v)) => put_sized(buf, &v.to_le_bytes()),
        (SqlType::Bit, Value::Bit(b)) => put_sized(buf, &[*b as u8]),
        (SqlType::Numeric { precision, .. }, Value::Numeric(v)) => {
            let size = numeric_size(precision.clamp(1, 38)) as usize;
            let magnitude = v.unsigned_abs().to_le_bytes();
            if magnitude[size - 1..].iter().any(|b| *b != 0) {
                return Err(bad());
            }
            buf.push(size as u8);
            buf.push(if *v < 0 { 0 } else { 1 });
            buf.extend_from_slice(&magnitude[..size - 1]);
        }
        (SqlType::DateTime, Value::DateTime(dt)) => {
            let (days, ticks) = datetime_to_legacy(dt).ok_or_else(bad)?;
            let mut bytes = days.to_le_bytes().to_vec();
            bytes.extend_from_slice(&ticks.to_le_bytes());
            put_sized(buf, &bytes);
        }
        (SqlType::UniqueIdentifier, Value::Guid(g)) => put_sized(buf, &guid_to_wire(*g)),
        (SqlType::NVarChar(n), Value::Str(s)) => {
            let mut bytes = Vec::with_capacity(s.len() * 2);
            super::wire::put_utf16(&mut bytes, s);
            if bytes.len() > nvarchar_max_bytes(n) as usize {
                return Err(bad());
            }
            buf.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            buf.extend_from_slice(&bytes);
        }
        (SqlType::Char(n), Value::Str(s)) => {
            let n = usize::from(n.clamp(1, 8000));
            if !s.is_ascii() || s.len() > n {
                return Err(bad());
            }
            // char(n) is fixed-length: padded with spaces.
            buf.extend_from_slice(&(n as u16).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
            buf.extend(std::iter::repeat_n(b' ', n - s.len()));
        }
        (SqlType::VarChar(n), Value::Str(s)) => {
            if !s.is_ascii() || s.len() > usize::from(n.clamp(1, 8000)) {
                return Err(bad());
            }
            buf.extend_from_slice(&(s.len() as u16).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// A value prefixed by its u8 length (INTN, BITN, DATETIMN, GUID).
fn put_sized(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.push(bytes.len() as u8);
    buf.extend_from_slice(bytes);
}

/// SQL Server stores the first three GUID groups little-endian; the swap is
/// its own inverse, so it serves both directions.
pub fn guid_to_wire(mut g: [u8; 16]) -> [u8; 16] {
    g.swap(0, 3);
    g.swap(1, 2);
    g.swap(4, 5);
    g.swap(6, 7);
    g
}

/// Days since 0001-01-01 for a proleptic Gregorian date (Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 719162 = days from 0001-01-01 to 1970-01-01; 719468 = 0000-03-01 to 1970-01-01.
    era * 146097 + doe - 719468 + 719162
}

/// Inverse of [`days_from_civil`]: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days - 719162 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

const DAYS_TO_1900: i64 = 693595;
const TICKS_PER_DAY: i64 = 300 * 86400;

/// Legacy `datetime`: days since 1900-01-01 and 1/300 s ticks, rounded to the nearest tick.
pub fn datetime_to_legacy(dt: &jiff::civil::DateTime) -> Option<(i32, u32)> {
    let mut days = days_from_civil(dt.year().into(), dt.month().into(), dt.day().into()) - DAYS_TO_1900;
    let secs = i64::from(dt.hour()) * 3600 + i64::from(dt.minute()) * 60 + i64::from(dt.second());
    let nanos = secs * 1_000_000_000 + i64::from(dt.subsec_nanosecond());
    let mut ticks = (nanos * 3 + 5_000_000) / 10_000_000;
    if ticks >= TICKS_PER_DAY {
        ticks -= TICKS_PER_DAY;
        days += 1;
    }
    Some((i32::try_from(days).ok()?, u32::try_from(ticks).ok()?))
}

/// Builds a civil date-time from days since 0001-01-01 and nanoseconds since midnight.
pub fn civil_datetime(days: i64, nanos: i64) -> Option<jiff::civil::DateTime> {
    let (y, m, d) = civil_from_days(days);
    let secs = nanos.div_euclid(1_000_000_000);
    let ns = nanos.rem_euclid(1_000_000_000);
    jiff::civil::DateTime::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
        i8::try_from(secs / 3600).ok()?,
        i8::try_from(secs / 60 % 60).ok()?,
        i8::try_from(secs % 60).ok()?,
        i32::try_from(ns).ok()?,
    )
    .ok()
}

/// Inverse of [`datetime_to_legacy`], for `datetime` parameters.
pub fn legacy_to_datetime(days: i32, ticks: u32) -> Option<jiff::civil::DateTime> {
    let nanos = (i64::from(ticks) * 10_000_000 + 1) / 3;
    civil_datetime(i64::from(days) + DAYS_TO_1900, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(days_from_civil(1, 1, 1), 0);
        assert_eq!(days_from_civil(1900, 1, 1), DAYS_TO_1900);
        for days in [0, 1, 59, 60, 365, 693595, 730119, 2_958_463] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn datetime_rounds_to_ticks() {
        let dt = date(2024, 2, 29).at(13, 45, 30, 123_456_789);
        let (days, ticks) = datetime_to_legacy(&dt).unwrap();
        assert_eq!(days, 45349);
        assert_eq!(ticks, (13 * 3600 + 45 * 60 + 30) * 300 + 37);
        let back = legacy_to_datetime(days, ticks).unwrap();
        assert_eq!(back, date(2024, 2, 29).at(13, 45, 30, 123_333_333));
        let late = date(1999, 12, 31).at(23, 59, 59, 999_000_000);
        assert_eq!(datetime_to_legacy(&late), Some((36524, 0)));
    }

    #[test]
    fn mismatched_value_is_an_error_not_a_panic() {
        let rs = ResultSet {
            columns: vec![Column::new("t", SqlType::TinyInt, false)],
            rows: vec![vec![Value::Int(300)]],
        };
        let v = Version(super::super::login::TDS_74);
        assert_eq!(result_set(&rs, v).unwrap_err().number, 50000);
    }
}
