//! Fortran namelist parser for WRF's `namelist.input`.
//!
//! Accepts what gfortran accepts in practice. Names are case-insensitive.
//! It reads `!` comments, `r*value` repeat counts, `r*` nulls, empty values
//! between commas, every logical spelling (`.true.`, `T`, `.f.`), values spread
//! over lines, tabs, CRLF line ends and `key(n)` start indexes. Groups close
//! with `/`, `&end` or `$end` and come in any order. Text between groups is
//! ignored, as Fortran does.

use std::collections::BTreeMap;
use std::fmt;

/// One value of a namelist variable.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Real(f64),
    Logical(bool),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Real(v) => write!(f, "{v}"),
            Value::Logical(true) => f.write_str(".true."),
            Value::Logical(false) => f.write_str(".false."),
            Value::Str(s) => write!(f, "'{s}'"),
        }
    }
}

/// A variable's values by column; `None` is a null that keeps the default.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub values: Vec<Option<Value>>,
    /// Line of the last assignment, for error messages.
    pub line: usize,
}

/// A parsed namelist: groups by lower-case name, variables by lower-case name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Namelist {
    pub groups: BTreeMap<String, BTreeMap<String, Variable>>,
}

impl Namelist {
    /// Returns the variable `name` of group `group`, both matched without case.
    pub fn get(&self, group: &str, name: &str) -> Option<&Variable> {
        self.groups
            .get(&group.to_ascii_lowercase())?
            .get(&name.to_ascii_lowercase())
    }
}

/// A syntax error with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses the text of a namelist file.
pub fn parse(text: &str) -> Result<Namelist, ParseError> {
    Parser::new(text).parse_file()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare word: a name, a logical such as `T`, or `&end`'s `end`.
    Word(String),
    Number(String),
    Str(String),
    Equals,
    Comma,
    Slash,
    Star,
    LeftParen,
    RightParen,
    Colon,
    /// `&` or `$` followed by a group name.
    GroupStart(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) | Token::Number(w) => write!(f, "`{w}`"),
            Token::Str(s) => write!(f, "the string '{s}'"),
            Token::Equals => f.write_str("`=`"),
            Token::Comma => f.write_str("`,`"),
            Token::Slash => f.write_str("`/`"),
            Token::Star => f.write_str("`*`"),
            Token::LeftParen => f.write_str("`(`"),
            Token::RightParen => f.write_str("`)`"),
            Token::Colon => f.write_str("`:`"),
            Token::GroupStart(g) => write!(f, "`&{g}`"),
        }
    }
}

#[derive(Debug, Clone)]
struct Spanned {
    token: Token,
    line: usize,
    column: usize,
    /// Whether blanks or a line end separate this token from the previous one.
    spaced: bool,
}

struct Parser {
    tokens: Vec<Spanned>,
    position: usize,
    end_line: usize,
    end_column: usize,
    lex_error: Option<ParseError>,
}

impl Parser {
    fn new(text: &str) -> Self {
        let (tokens, lex_error, end_line, end_column) = tokenize(text);
        Parser { tokens, position: 0, end_line, end_column, lex_error }
    }

    fn peek(&self) -> Option<&Spanned> {
        self.tokens.get(self.position)
    }

    fn peek_at(&self, offset: usize) -> Option<&Spanned> {
        self.tokens.get(self.position + offset)
    }

    fn next(&mut self) -> Option<Spanned> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn error_here(&self, expected: &str) -> ParseError {
        match self.peek() {
            Some(t) => ParseError {
                line: t.line,
                column: t.column,
                message: format!("expected {expected}, found {}", t.token),
            },
            None => self.lex_error.clone().unwrap_or(ParseError {
                line: self.end_line,
                column: self.end_column,
                message: format!("expected {expected}, found the end of the file"),
            }),
        }
    }

    fn parse_file(mut self) -> Result<Namelist, ParseError> {
        let mut namelist = Namelist::default();
        while let Some(spanned) = self.next() {
            // Fortran skips anything outside a group, so only a group start matters here.
            if let Token::GroupStart(name) = spanned.token {
                let group = namelist.groups.entry(name).or_default();
                self.parse_group(group)?;
            }
        }
        if let Some(error) = self.lex_error {
            return Err(error);
        }
        Ok(namelist)
    }

    fn parse_group(&mut self, group: &mut BTreeMap<String, Variable>) -> Result<(), ParseError> {
        loop {
            let Some(spanned) = self.peek().cloned() else {
                return Err(self.error_here("`/` to close the group"));
            };
            match spanned.token {
                Token::Slash => {
                    self.position += 1;
                    return Ok(());
                }
                Token::GroupStart(ref name) if name == "end" => {
                    self.position += 1;
                    return Ok(());
                }
                Token::Comma => self.position += 1,
                Token::Word(ref name) => {
                    self.position += 1;
                    self.parse_assignment(name.to_ascii_lowercase(), spanned.line, group)?;
                }
                _ => return Err(self.error_here("a variable name")),
            }
        }
    }

    fn parse_assignment(
        &mut self,
        name: String,
        line: usize,
        group: &mut BTreeMap<String, Variable>,
    ) -> Result<(), ParseError> {
        let start_column = self.parse_index()?;
        match self.next().map(|t| t.token) {
            Some(Token::Equals) => {}
            _ => {
                self.position -= 1;
                return Err(self.error_here(&format!("`=` after `{name}`")));
            }
        }
        let values = self.parse_values(&name)?;
        let variable = group.entry(name).or_insert(Variable { values: Vec::new(), line });
        variable.line = line;
        for (offset, value) in values.into_iter().enumerate() {
            let column = start_column + offset;
            if variable.values.len() <= column {
                variable.values.resize(column + 1, None);
            }
            // A null keeps whatever an earlier assignment stored.
            if value.is_some() {
                variable.values[column] = value;
            }
        }
        Ok(())
    }

    /// Parses an optional `(n)` or `(n:m)` after a name; returns the 0-based start column.
    fn parse_index(&mut self) -> Result<usize, ParseError> {
        if !matches!(self.peek().map(|t| &t.token), Some(Token::LeftParen)) {
            return Ok(0);
        }
        self.position += 1;
        let start = self.parse_index_number()?;
        if matches!(self.peek().map(|t| &t.token), Some(Token::Colon)) {
            self.position += 1;
            self.parse_index_number()?;
        }
        match self.peek().map(|t| &t.token) {
            Some(Token::RightParen) => {
                self.position += 1;
                Ok(start - 1)
            }
            _ => Err(self.error_here("`)` to close the index")),
        }
    }

    fn parse_index_number(&mut self) -> Result<usize, ParseError> {
        if let Some(Token::Number(text)) = self.peek().map(|t| t.token.clone()) {
            if let Ok(index) = text.parse::<usize>() {
                if (1..=10_000).contains(&index) {
                    self.position += 1;
                    return Ok(index);
                }
            }
        }
        Err(self.error_here("an index from 1 to 10000"))
    }

    /// Parses the values after `=` up to the next name, `/` or group end.
    fn parse_values(&mut self, name: &str) -> Result<Vec<Option<Value>>, ParseError> {
        let mut values = Vec::new();
        // Whether the last item was a value or null that still awaits its separator.
        let mut pending_value = false;
        loop {
            let Some(spanned) = self.peek().cloned() else {
                return Err(self.error_here("`/` to close the group"));
            };
            if self.starts_assignment() {
                break;
            }
            match spanned.token {
                Token::Slash | Token::GroupStart(_) => break,
                Token::Comma => {
                    self.position += 1;
                    if !pending_value {
                        values.push(None);
                    }
                    pending_value = false;
                }
                Token::Number(_) if self.is_repeat() => {
                    let count = self.parse_repeat_count()?;
                    let value = self.parse_repeated_value(name)?;
                    values.extend(std::iter::repeat_n(value, count));
                    pending_value = true;
                }
                _ => {
                    if pending_value && !spanned.spaced {
                        return Err(self.error_here("a separator between values"));
                    }
                    let value = self.parse_value(name)?;
                    values.push(Some(value));
                    pending_value = true;
                }
            }
        }
        Ok(values)
    }

    /// Returns whether the tokens at the cursor start `name =` or `name(…) =`.
    fn starts_assignment(&self) -> bool {
        let Some(Token::Word(_)) = self.peek().map(|t| &t.token) else {
            return false;
        };
        match self.peek_at(1).map(|t| &t.token) {
            Some(Token::Equals) => true,
            Some(Token::LeftParen) => (2..8).any(|offset| {
                matches!(self.peek_at(offset).map(|t| &t.token), Some(Token::RightParen))
                    && matches!(self.peek_at(offset + 1).map(|t| &t.token), Some(Token::Equals))
            }),
            _ => false,
        }
    }

    fn is_repeat(&self) -> bool {
        matches!(self.peek_at(1), Some(Spanned { token: Token::Star, spaced: false, .. }))
    }

    fn parse_repeat_count(&mut self) -> Result<usize, ParseError> {
        let Some(Token::Number(text)) = self.peek().map(|t| t.token.clone()) else {
            return Err(self.error_here("a repeat count"));
        };
        match text.parse::<usize>() {
            Ok(count) if (1..=100_000).contains(&count) => {
                self.position += 2;
                Ok(count)
            }
            _ => Err(self.error_here("a repeat count from 1 to 100000 before `*`")),
        }
    }

    fn parse_repeated_value(&mut self, name: &str) -> Result<Option<Value>, ParseError> {
        match self.peek() {
            Some(Spanned { spaced: false, token, .. })
                if !matches!(token, Token::Comma | Token::Slash | Token::GroupStart(_)) =>
            {
                Ok(Some(self.parse_value(name)?))
            }
            // `r*` followed by a separator is r nulls.
            _ => Ok(None),
        }
    }

    fn parse_value(&mut self, name: &str) -> Result<Value, ParseError> {
        let expected = format!("a value for `{name}`");
        let Some(spanned) = self.peek().cloned() else {
            return Err(self.error_here(&expected));
        };
        let value = match &spanned.token {
            Token::Str(s) => Value::Str(s.clone()),
            Token::Number(text) => parse_number(text).ok_or_else(|| self.error_here(&expected))?,
            Token::Word(word) => match parse_logical(word) {
                Some(value) => value,
                // A bare name inside a value list is most often a variable missing its `=`.
                None if matches!(self.peek_at(1).map(|t| &t.token), Some(Token::Number(_) | Token::Str(_) | Token::Word(_))) => {
                    self.position += 1;
                    return Err(self.error_here(&format!("`=` after `{word}`")));
                }
                None => return Err(self.error_here(&format!("{expected} (text values need quotes)"))),
            },
            _ => return Err(self.error_here(&expected)),
        };
        self.position += 1;
        Ok(value)
    }
}

fn parse_number(text: &str) -> Option<Value> {
    if let Ok(v) = text.parse::<i64>() {
        return Some(Value::Int(v));
    }
    // Fortran writes double-precision exponents with `d`.
    let normalized = text.replace(['d', 'D'], "e");
    if normalized.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    normalized.parse::<f64>().ok().filter(|v| v.is_finite()).map(Value::Real)
}

/// Fortran reads any token whose first letter after an optional dot is T or F as a logical.
fn parse_logical(word: &str) -> Option<Value> {
    let trimmed = word.strip_prefix('.').unwrap_or(word);
    match trimmed.chars().next()?.to_ascii_lowercase() {
        't' => Some(Value::Logical(true)),
        'f' => Some(Value::Logical(false)),
        _ => None,
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '%'
}

/// Splits the text into tokens; returns them with the first lexical error and the end position.
fn tokenize(text: &str) -> (Vec<Spanned>, Option<ParseError>, usize, usize) {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let (mut line, mut column) = (1usize, 1usize);
    let mut i = 0;
    let mut spaced = true;

    while i < chars.len() {
        let c = chars[i];
        let (start_line, start_column) = (line, column);
        let mut push = |token: Token, spaced: &mut bool| {
            tokens.push(Spanned { token, line: start_line, column: start_column, spaced: *spaced });
            *spaced = false;
        };
        match c {
            '\n' => {
                line += 1;
                column = 1;
                i += 1;
                spaced = true;
                continue;
            }
            ' ' | '\t' | '\r' | '\u{feff}' => {
                i += 1;
                column += 1;
                spaced = true;
                continue;
            }
            '!' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                spaced = true;
                continue;
            }
            '=' => push(Token::Equals, &mut spaced),
            ',' | ';' => push(Token::Comma, &mut spaced),
            '/' => push(Token::Slash, &mut spaced),
            '*' => push(Token::Star, &mut spaced),
            '(' => push(Token::LeftParen, &mut spaced),
            ')' => push(Token::RightParen, &mut spaced),
            ':' => push(Token::Colon, &mut spaced),
            '&' | '$' => {
                let mut j = i + 1;
                while j < chars.len() && is_word_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect::<String>().to_ascii_lowercase();
                if name.is_empty() {
                    let error = ParseError {
                        line,
                        column,
                        message: format!("expected a group name after `{c}`"),
                    };
                    return (tokens, Some(error), line, column);
                }
                push(Token::GroupStart(name), &mut spaced);
                column += j - i;
                i = j;
                continue;
            }
            '\'' | '"' => {
                let quote = c;
                let mut value = String::new();
                let mut j = i + 1;
                let (mut l, mut col) = (line, column + 1);
                loop {
                    if j >= chars.len() {
                        let error = ParseError {
                            line: start_line,
                            column: start_column,
                            message: format!("unterminated string: expected a closing {quote}"),
                        };
                        return (tokens, Some(error), l, col);
                    }
                    if chars[j] == quote {
                        // A doubled quote stands for one quote character.
                        if j + 1 < chars.len() && chars[j + 1] == quote {
                            value.push(quote);
                            j += 2;
                            col += 2;
                            continue;
                        }
                        j += 1;
                        col += 1;
                        break;
                    }
                    if chars[j] == '\n' {
                        l += 1;
                        col = 1;
                    } else {
                        col += 1;
                    }
                    if chars[j] != '\r' {
                        value.push(chars[j]);
                    }
                    j += 1;
                }
                push(Token::Str(value), &mut spaced);
                i = j;
                line = l;
                column = col;
                continue;
            }
            _ if c.is_ascii_digit() || c == '+' || c == '-' || (c == '.' && next_is_digit(&chars, i)) => {
                let mut j = i + 1;
                while j < chars.len() && number_continues(&chars, j) {
                    j += 1;
                }
                push(Token::Number(chars[i..j].iter().collect()), &mut spaced);
                column += j - i;
                i = j;
                continue;
            }
            _ if is_word_char(c) => {
                let mut j = i + 1;
                while j < chars.len() && is_word_char(chars[j]) {
                    j += 1;
                }
                push(Token::Word(chars[i..j].iter().collect()), &mut spaced);
                column += j - i;
                i = j;
                continue;
            }
            other => {
                let error = ParseError {
                    line,
                    column,
                    message: format!("unexpected character `{}`", other.escape_debug()),
                };
                return (tokens, Some(error), line, column);
            }
        }
        i += 1;
        column += 1;
    }
    (tokens, None, line, column)
}

fn next_is_digit(chars: &[char], i: usize) -> bool {
    chars.get(i + 1).is_some_and(|c| c.is_ascii_digit())
}

fn number_continues(chars: &[char], j: usize) -> bool {
    let c = chars[j];
    if c.is_ascii_alphanumeric() || c == '.' {
        return true;
    }
    // A sign continues a number only right after an exponent letter, as in 1.0e-3.
    (c == '+' || c == '-') && matches!(chars[j - 1], 'e' | 'E' | 'd' | 'D')
}

#[cfg(test)]
mod tests;
