//! Splits a batch into tokens by T-SQL's lexical rules. Lexical errors (unclosed
//! quotes and comments, over-long or empty names) fail the whole batch.

use crate::sim::table::ServerError;

/// SQL Server's maximum identifier length, in UTF-16 code units (`sysname`).
const MAX_IDENT: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    /// A regular identifier; keywords are words the parser checks for.
    Word,
    /// A `[…]` or `"…"` identifier, unescaped. Never a keyword.
    Quoted(String),
    /// A `'…'` or `N'…'` string, unescaped.
    Str(String),
    /// Decimal digits (the sign is a separate `-` token).
    Int,
    /// `@name`.
    Param,
    /// `@@name`.
    Global,
    /// One of `( ) , ; . = * -`.
    Punct(char),
    /// Anything else: always a syntax error, but lexed so the error can name it.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token<'a> {
    pub kind: Kind,
    /// The token exactly as written, for error messages.
    pub text: &'a str,
}

/// Lexes the whole batch (SQL Server compiles a batch before running any of it).
pub(super) fn lex(src: &str) -> Result<Vec<Token<'_>>, ServerError> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut tokens = Vec::new();
    while let Some(tok) = lexer.next_token()? {
        tokens.push(tok);
    }
    Ok(tokens)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.src[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn bump_while(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.bump();
        }
    }

    /// Skips whitespace and comments; `/* */` comments nest in T-SQL.
    fn skip_trivia(&mut self) -> Result<(), ServerError> {
        loop {
            match (self.peek(), self.peek2()) {
                (Some(c), _) if c.is_whitespace() => self.pos += c.len_utf8(),
                (Some('-'), Some('-')) => self.bump_while(|c| c != '\n' && c != '\r'),
                (Some('/'), Some('*')) => self.block_comment()?,
                _ => return Ok(()),
            }
        }
    }

    fn block_comment(&mut self) -> Result<(), ServerError> {
        let mut depth = 0usize;
        loop {
            match (self.peek(), self.peek2()) {
                (Some('/'), Some('*')) => {
                    self.pos += 2;
                    depth += 1;
                }
                (Some('*'), Some('/')) => {
                    self.pos += 2;
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                (Some(_), _) => {
                    self.bump();
                }
                (None, _) => {
                    return Err(ServerError::new(113, 15, "Missing end comment mark '*/'."));
                }
            }
        }
    }

    fn next_token(&mut self) -> Result<Option<Token<'a>>, ServerError> {
        self.skip_trivia()?;
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(None);
        };
        let kind = match c {
            'N' | 'n' if self.peek() == Some('\'') => {
                self.bump();
                Kind::Str(self.delimited('\'')?)
            }
            '\'' => Kind::Str(self.delimited('\'')?),
            '[' => Kind::Quoted(self.delimited_ident(']')?),
            '"' => Kind::Quoted(self.delimited_ident('"')?),
            c if is_ident_start(c) => {
                self.bump_while(is_ident_continue);
                check_len(&self.src[start..self.pos])?;
                Kind::Word
            }
            '0'..='9' => {
                self.bump_while(|c| c.is_ascii_digit());
                Kind::Int
            }
            '@' => self.variable(start)?,
            '(' | ')' | ',' | ';' | '.' | '=' | '*' | '-' => Kind::Punct(c),
            _ => Kind::Other,
        };
        Ok(Some(Token {
            kind,
            text: &self.src[start..self.pos],
        }))
    }

    /// `@name` or `@@name`; a bare `@` / `@@` is lexed as `Other`.
    fn variable(&mut self, start: usize) -> Result<Kind, ServerError> {
        let global = self.peek() == Some('@');
        if global {
            self.bump();
        }
        let name_start = self.pos;
        self.bump_while(is_ident_continue);
        if self.pos == name_start {
            return Ok(Kind::Other);
        }
        check_len(&self.src[start..self.pos])?;
        Ok(if global { Kind::Global } else { Kind::Param })
    }

    /// Reads up to the closing `close` (doubled means one), after the opening quote.
    fn delimited(&mut self, close: char) -> Result<String, ServerError> {
        let body = self.pos;
        let mut value = String::new();
        while let Some(c) = self.bump() {
            if c == close {
                if self.peek() != Some(close) {
                    return Ok(value);
                }
                self.bump();
            }
            value.push(c);
        }
        Err(ServerError::new(
            105,
            15,
            format!(
                "Unclosed quotation mark after the character string '{}'.",
                &self.src[body..]
            ),
        ))
    }

    fn delimited_ident(&mut self, close: char) -> Result<String, ServerError> {
        let value = self.delimited(close)?;
        if value.is_empty() {
            return Err(ServerError::new(
                1038,
                15,
                "An object or column name is missing or empty. For SELECT INTO statements, \
                 verify each column has a column name. In other statements, look for empty \
                 alias names. Aliases defined as \"\" or [] are not allowed. Change the alias \
                 to a valid name.",
            ));
        }
        check_len(&value)?;
        Ok(value)
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '#'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '@' | '#' | '$')
}

/// Error 103 for names over 128 UTF-16 units, quoting the first 128 units.
fn check_len(name: &str) -> Result<(), ServerError> {
    if name.encode_utf16().count() <= MAX_IDENT {
        return Ok(());
    }
    let mut units = 0;
    let prefix: String = name
        .chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= MAX_IDENT
        })
        .collect();
    Err(ServerError::new(
        103,
        15,
        format!("The identifier that starts with '{prefix}' is too long. Maximum length is 128."),
    ))
}
