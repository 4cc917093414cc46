//! The tests' one JSON reader: every `--json` object a binary prints is
//! parsed here, so an assertion names a key instead of searching text.
//!
//! A small recursive-descent parser over the whole grammar (objects keep
//! their key order; `\uXXXX` escapes and surrogate pairs decode). It panics
//! on malformed input, which in a test is the failure we want.

use std::ops::Index;

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

impl Value {
    /// The value at `key` of an object, `None` if absent or not an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The number this value is; panics otherwise.
    pub fn num(&self) -> f64 {
        match self {
            Value::Num(n) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }

    /// The string this value is; panics otherwise.
    pub fn str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    /// The items of an array; panics otherwise.
    pub fn arr(&self) -> &[Value] {
        match self {
            Value::Arr(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }

    /// The keys of an object, in order; panics otherwise.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Value::Obj(fields) => fields.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }
}

impl Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key)
            .unwrap_or_else(|| panic!("no key {key:?} in {self:?}"))
    }
}

/// Parses one JSON document; panics on anything malformed or trailing.
pub fn parse(text: &str) -> Value {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = reader.value();
    reader.skip_ws();
    assert_eq!(reader.at, text.len(), "trailing text in {text}");
    value
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn skip_ws(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> u8 {
        self.skip_ws();
        *self
            .bytes
            .get(self.at)
            .unwrap_or_else(|| panic!("JSON ends early: {}", self.text))
    }

    fn expect(&mut self, c: u8) {
        assert_eq!(
            self.peek(),
            c,
            "expected {:?} at {} in {}",
            c as char,
            self.at,
            self.text
        );
        self.at += 1;
    }

    fn literal(&mut self, word: &str, value: Value) -> Value {
        assert!(
            self.text[self.at..].starts_with(word),
            "bad literal at {} in {}",
            self.at,
            self.text
        );
        self.at += word.len();
        value
    }

    fn value(&mut self) -> Value {
        match self.peek() {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => Value::Str(self.string()),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            _ => self.number(),
        }
    }

    /// Items up to `close`, separated by commas, each read by `item`.
    fn sequence(&mut self, close: u8, mut item: impl FnMut(&mut Self)) {
        self.at += 1;
        if self.peek() == close {
            self.at += 1;
            return;
        }
        loop {
            item(self);
            match self.peek() {
                b',' => self.at += 1,
                c if c == close => {
                    self.at += 1;
                    return;
                }
                c => panic!("unexpected {:?} at {} in {}", c as char, self.at, self.text),
            }
        }
    }

    fn object(&mut self) -> Value {
        let mut fields = Vec::new();
        self.sequence(b'}', |reader| {
            let key = reader.string();
            reader.expect(b':');
            fields.push((key, reader.value()));
        });
        Value::Obj(fields)
    }

    fn array(&mut self) -> Value {
        let mut items = Vec::new();
        self.sequence(b']', |reader| items.push(reader.value()));
        Value::Arr(items)
    }

    fn hex4(&mut self) -> u32 {
        let digits = &self.text[self.at..self.at + 4];
        self.at += 4;
        u32::from_str_radix(digits, 16).unwrap_or_else(|_| panic!("bad \\u{digits}"))
    }

    fn escape(&mut self) -> char {
        let c = self.bytes[self.at];
        self.at += 1;
        match c {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let mut code = self.hex4();
                if (0xD800..0xDC00).contains(&code) && self.text[self.at..].starts_with("\\u") {
                    self.at += 2;
                    let low = self.hex4();
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                char::from_u32(code).unwrap_or('\u{FFFD}')
            }
            other => other as char,
        }
    }

    fn string(&mut self) -> String {
        self.expect(b'"');
        let mut out = String::new();
        loop {
            let rest = &self.text[self.at..];
            let stop = rest
                .find(['"', '\\'])
                .unwrap_or_else(|| panic!("unterminated string in {}", self.text));
            out.push_str(&rest[..stop]);
            self.at += stop + 1;
            if rest.as_bytes()[stop] == b'"' {
                return out;
            }
            out.push(self.escape());
        }
    }

    fn number(&mut self) -> Value {
        let start = self.at;
        while self
            .bytes
            .get(self.at)
            .is_some_and(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        {
            self.at += 1;
        }
        let text = &self.text[start..self.at];
        Value::Num(
            text.parse()
                .unwrap_or_else(|_| panic!("bad number {text:?} in {}", self.text)),
        )
    }
}
