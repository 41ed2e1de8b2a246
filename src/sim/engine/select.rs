//! `SELECT cols FROM view WHERE col = literal AND …` over a view's rows:
//! projection, equality filters with SQL Server's comparison rules.

use crate::sim::parse::ast::{Condition, SelectItem};
use crate::sim::table::{ResultSet, ServerError, Value};

/// A literal after parameters were substituted.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i128),
    Null,
}

fn invalid_column(name: &str) -> ServerError {
    ServerError::new(207, 16, format!("Invalid column name '{name}'."))
}

fn column_index(rs: &ResultSet, name: &str) -> Result<usize, ServerError> {
    rs.columns
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| invalid_column(name))
}

/// Projects and filters a view's full contents.
pub fn select(rs: ResultSet, items: &[SelectItem], filter: &[(Condition, Scalar)]) -> Result<ResultSet, ServerError> {
    let mut picks = Vec::new();
    for item in items {
        match item {
            SelectItem::Star => picks.extend((0..rs.columns.len()).map(|i| (i, None))),
            SelectItem::Column { name, alias } => picks.push((column_index(&rs, name)?, alias.clone())),
            SelectItem::Global { .. } => {
                return Err(ServerError::new(102, 15, "Incorrect syntax near 'FROM'."));
            }
        }
    }
    let mut tests = Vec::new();
    for (cond, value) in filter {
        tests.push((column_index(&rs, &cond.column)?, value));
    }
    let mut rows = Vec::new();
    for row in &rs.rows {
        let mut keep = true;
        for (i, value) in &tests {
            if !equals(&row[*i], value)? {
                keep = false;
                break;
            }
        }
        if keep {
            rows.push(picks.iter().map(|(i, _)| row[*i].clone()).collect());
        }
    }
    let columns = picks
        .iter()
        .map(|(i, alias)| {
            let mut c = rs.columns[*i].clone();
            if let Some(a) = alias {
                c.name = a.clone();
            }
            c
        })
        .collect();
    Ok(ResultSet { columns, rows })
}

fn conversion_failed(value: &str, ty: &str) -> ServerError {
    ServerError::new(
        245,
        16,
        format!("Conversion failed when converting the nvarchar value '{value}' to data type {ty}."),
    )
}

/// `column = literal` as SQL Server evaluates it: NULL equals nothing, strings
/// compare case-insensitively ignoring trailing spaces (a *_CI_AS collation),
/// a string compared with a number is converted to the number's type.
fn equals(cell: &Value, lit: &Scalar) -> Result<bool, ServerError> {
    Ok(match (cell, lit) {
        (Value::Null, _) | (_, Scalar::Null) => false,
        (Value::Str(a), Scalar::Str(b)) => {
            a.trim_end_matches(' ').to_lowercase() == b.trim_end_matches(' ').to_lowercase()
        }
        (Value::Str(a), Scalar::Int(b)) => {
            let n: i128 = a.trim().parse().map_err(|_| conversion_failed(a, "int"))?;
            n == *b
        }
        (Value::Int(a), Scalar::Int(b)) => i128::from(*a) == *b,
        (Value::Int(a), Scalar::Str(b)) => {
            let n: i128 = b.trim().parse().map_err(|_| conversion_failed(b, "int"))?;
            i128::from(*a) == n
        }
        (Value::Numeric(a), Scalar::Int(b)) => a == b,
        (Value::Numeric(a), Scalar::Str(b)) => {
            let n: i128 = b.trim().parse().map_err(|_| conversion_failed(b, "numeric"))?;
            *a == n
        }
        (Value::Bit(a), Scalar::Int(b)) => i128::from(*a) == (*b != 0) as i128,
        (Value::Bit(a), Scalar::Str(b)) => match b.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => *a,
            "0" | "false" => !*a,
            _ => return Err(conversion_failed(b, "bit")),
        },
        (Value::Guid(g), Scalar::Str(b)) => {
            let parsed = parse_guid(b).ok_or_else(|| {
                ServerError::new(
                    8169,
                    16,
                    "Conversion failed when converting from a character string to uniqueidentifier.",
                )
            })?;
            parsed == *g
        }
        (Value::DateTime(d), Scalar::Str(b)) => {
            let parsed: jiff::civil::DateTime = b.trim().replace(' ', "T").parse().map_err(|_| {
                ServerError::new(
                    241,
                    16,
                    "Conversion failed when converting date and/or time from character string.",
                )
            })?;
            parsed == *d
        }
        (Value::Guid(_), Scalar::Int(_)) | (Value::DateTime(_), Scalar::Int(_)) => {
            return Err(ServerError::new(
                206,
                16,
                "Operand type clash: int is incompatible with the column's type",
            ));
        }
    })
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, optionally in braces.
pub fn parse_guid(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    let s = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(s);
    let groups: Vec<&str> = s.split('-').collect();
    if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
        return None;
    }
    let hex: String = groups.concat();
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The canonical text of a GUID, as SQL Server prints it (upper case).
pub fn format_guid(g: &[u8; 16]) -> String {
    let h: String = g.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::table::{Column, SqlType};

    fn view() -> ResultSet {
        ResultSet {
            columns: vec![
                Column::new("name", SqlType::NVarChar(128), true),
                Column::new("database_id", SqlType::Int, false),
                Column::new("is_local", SqlType::Bit, true),
            ],
            rows: vec![
                vec![Value::Str("confdb".into()), Value::Int(5), Value::Bit(true)],
                vec![Value::Str("logdb".into()), Value::Int(6), Value::Bit(false)],
                vec![Value::Null, Value::Int(7), Value::Null],
            ],
        }
    }

    fn cond(c: &str) -> Condition {
        Condition {
            column: c.into(),
            value: crate::sim::parse::ast::Literal::Null,
        }
    }

    #[test]
    fn filters_project_and_alias() {
        let items = vec![SelectItem::Column {
            name: "DATABASE_ID".into(),
            alias: Some("id".into()),
        }];
        let rs = select(view(), &items, &[(cond("name"), Scalar::Str("CONFDB  ".into()))]).unwrap();
        assert_eq!(rs.columns[0].name, "id");
        assert_eq!(rs.rows, vec![vec![Value::Int(5)]]);
        let rs = select(view(), &[SelectItem::Star], &[(cond("is_local"), Scalar::Int(0))]).unwrap();
        assert_eq!(rs.rows.len(), 1);
        // NULL never compares equal, not even to NULL.
        let rs = select(view(), &[SelectItem::Star], &[(cond("name"), Scalar::Null)]).unwrap();
        assert!(rs.rows.is_empty());
    }

    #[test]
    fn unknown_columns_and_bad_conversions_are_errors() {
        let items = vec![SelectItem::Column {
            name: "nope".into(),
            alias: None,
        }];
        assert_eq!(select(view(), &items, &[]).unwrap_err().number, 207);
        let err = select(
            view(),
            &[SelectItem::Star],
            &[(cond("database_id"), Scalar::Str("five".into()))],
        )
        .unwrap_err();
        assert_eq!(err.number, 245);
    }

    #[test]
    fn guid_text_round_trips() {
        let g = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(parse_guid(&format_guid(&g)), Some(g));
        assert_eq!(parse_guid(&format!("{{{}}}", format_guid(&g).to_lowercase())), Some(g));
        assert_eq!(parse_guid("not-a-guid"), None);
    }
}
