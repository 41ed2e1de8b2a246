//! Decoding of SQL batch and RPC requests into SQL text and parameters.

use super::login::Version;
use super::params::param_value;
use super::wire::{Malformed, Reader, utf16_to_string};
use crate::sim::table::{Param, ServerError, Value};

/// A request the backend can run, or the error SQL Server would answer.
pub type Decoded = Result<(String, Vec<Param>), ServerError>;

/// ALL_HEADERS (TDS 7.2+): a u32 total length that includes itself.
fn skip_all_headers(r: &mut Reader, version: Version) -> Result<(), Malformed> {
    if version.is_72_plus() {
        let total = r.u32()? as usize;
        r.bytes(total.checked_sub(4).ok_or(Malformed)?)?;
    }
    Ok(())
}

pub fn batch(payload: &[u8], version: Version) -> Result<Decoded, Malformed> {
    let mut r = Reader::new(payload);
    skip_all_headers(&mut r, version)?;
    let text = r.bytes(r.remaining())?;
    Ok(utf16_to_string(text)
        .map(|sql| (sql, Vec::new()))
        .ok_or_else(|| ServerError::new(102, 15, "Incorrect syntax near ''.")))
}

/// An RPC; only `sp_executesql` (by ProcID 10 or by name) is supported.
pub fn rpc(payload: &[u8], version: Version) -> Result<Decoded, Malformed> {
    let mut r = Reader::new(payload);
    skip_all_headers(&mut r, version)?;
    let name_len = r.u16()?;
    let proc = if name_len == 0xFFFF {
        match r.u16()? {
            10 => None,
            id => Some(format!("#{id}")),
        }
    } else {
        let name = r.utf16(name_len as usize)?;
        let bare = name.rsplit('.').next().unwrap_or_default();
        let bare = bare.trim_matches(|c| c == '[' || c == ']');
        (!bare.eq_ignore_ascii_case("sp_executesql")).then_some(name)
    };
    if let Some(name) = proc {
        let msg = format!("Could not find stored procedure '{name}'.");
        return Ok(Err(ServerError::new(2812, 16, msg)));
    }
    r.u16()?; // option flags
    let mut params = Vec::new();
    while r.remaining() > 0 {
        let name = r.b_varchar()?;
        r.u8()?; // status flags
        let value = match param_value(&mut r)? {
            Ok(v) => v,
            Err(ty) => {
                let msg = format!(
                    "The incoming tabular data stream (TDS) remote procedure call (RPC) protocol \
                     stream is incorrect. Parameter {} (\"{name}\"): Data type 0x{ty:02X} is unknown.",
                    params.len() + 1
                );
                return Ok(Err(ServerError::new(8009, 16, msg)));
            }
        };
        params.push(Param { name, value });
    }
    let mut params = params.into_iter();
    let sql = match params.next() {
        Some(Param {
            value: Value::Str(s), ..
        }) => s,
        _ => {
            let msg = "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.";
            return Ok(Err(ServerError::new(214, 16, msg)));
        }
    };
    let declared = match params.next() {
        Some(Param {
            value: Value::Str(s), ..
        }) => declared_names(&s),
        _ => Vec::new(),
    };
    let values = params
        .enumerate()
        .map(|(i, mut p)| {
            if p.name.is_empty() {
                p.name = declared.get(i).cloned().unwrap_or_else(|| format!("@P{}", i + 1));
            } else if !p.name.starts_with('@') {
                p.name.insert(0, '@');
            }
            p
        })
        .collect();
    Ok(Ok((sql, values)))
}

/// Parameter names in an `@params` declaration such as `@P1 nvarchar(10),@x decimal(25,0)`.
fn declared_names(decl: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0i32;
    let mut chars = decl.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '@' if depth == 0 => {
                let mut end = i + 1;
                while let Some(&(j, c)) = chars.peek() {
                    if !(c.is_alphanumeric() || c == '_' || c == '@' || c == '#' || c == '$') {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                names.push(decl[i..end].to_string());
            }
            _ => {}
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_declaration() {
        let names = declared_names("@P1 nvarchar(4000),@lsn decimal(25, 0) , @x int");
        assert_eq!(names, vec!["@P1", "@lsn", "@x"]);
    }

    #[test]
    fn truncated_rpc_is_malformed() {
        let v = Version(super::super::login::TDS_74);
        assert!(rpc(&[22, 0, 0, 0, 1], v).is_err());
        assert!(batch(&[3, 0, 0, 0], v).is_err());
        let mut ok = vec![4, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 0];
        ok.extend_from_slice(&[0, 0, 0x26, 4]); // truncated INTN parameter
        assert!(rpc(&ok, v).is_err());
    }
}
