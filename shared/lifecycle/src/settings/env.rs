//! Options from environment variables, each value typed by the field it fills: serde asks this deserializer for
//! a `u32`, a `bool`, a list (comma-separated, blank items dropped), an enum variant or an optional value, and
//! the text is parsed as that, or refused naming the variable.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::SettingsError;

/// One option found in the environment: where it goes (the keys down to it), its variable and its text.
pub(super) struct Found {
    pub(super) path: Vec<String>,
    pub(super) variable: String,
    pub(super) value: String,
}

/// `T` from its `defaults` (its JSON form) with the options `found` in the environment put over them.
pub(super) fn deserialize<T: DeserializeOwned>(
    defaults: &Map<String, Value>,
    found: &[Found],
) -> Result<T, SettingsError> {
    let tree = Node::Map(build(defaults, found, &[]));
    T::deserialize(tree).map_err(|e| match e.at {
        Some((variable, value)) => SettingsError::Env {
            variable,
            value,
            reason: e.reason,
        },
        None => SettingsError::Override(e.reason),
    })
}

/// One level of options: a variable's text, a default already typed, or a nested level.
enum Node<'a> {
    Leaf(&'a Found),
    Default(&'a Value),
    Map(Vec<(String, Node<'a>)>),
}

fn build<'a>(
    defaults: &'a Map<String, Value>,
    found: &'a [Found],
    above: &[String],
) -> Vec<(String, Node<'a>)> {
    defaults
        .iter()
        .map(|(key, value)| {
            let mut path = above.to_vec();
            path.push(key.clone());
            let node = match value {
                Value::Object(inner) => Node::Map(build(inner, found, &path)),
                Value::Null
                | Value::Bool(_)
                | Value::Number(_)
                | Value::String(_)
                | Value::Array(_) => match found.iter().find(|f| f.path == path) {
                    Some(leaf) => Node::Leaf(leaf),
                    None => Node::Default(value),
                },
            };
            (key.clone(), node)
        })
        .collect()
}

/// A failure, with the variable and value it concerns once known.
#[derive(Debug)]
pub(super) struct EnvError {
    at: Option<(String, String)>,
    reason: String,
}

impl std::fmt::Display for EnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for EnvError {}

impl de::Error for EnvError {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        EnvError {
            at: None,
            reason: msg.to_string(),
        }
    }
}

impl EnvError {
    fn at(mut self, found: &Found) -> Self {
        self.at
            .get_or_insert_with(|| (found.variable.clone(), found.value.clone()));
        self
    }
}

impl<'de> de::Deserializer<'de> for Node<'_> {
    type Error = EnvError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EnvError> {
        match self {
            Node::Leaf(found) => Text(&found.value)
                .deserialize_any(visitor)
                .map_err(|e| e.at(found)),
            Node::Default(value) => value
                .clone()
                .deserialize_any(visitor)
                .map_err(de::Error::custom),
            Node::Map(entries) => visitor.visit_map(Entries {
                entries: entries.into_iter(),
                value: None,
            }),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The keys of one level, each handing its value to the field's own deserialization.
struct Entries<'a, I: Iterator<Item = (String, Node<'a>)>> {
    entries: I,
    value: Option<Node<'a>>,
}

impl<'de, 'a, I: Iterator<Item = (String, Node<'a>)>> MapAccess<'de> for Entries<'a, I> {
    type Error = EnvError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, EnvError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key.into_deserializer()).map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, EnvError> {
        match self.value.take() {
            Some(Node::Leaf(found)) => seed
                .deserialize(Text(&found.value))
                .map_err(|e| e.at(found)),
            Some(Node::Default(value)) => {
                seed.deserialize(value.clone()).map_err(de::Error::custom)
            }
            Some(node @ Node::Map(_)) => seed.deserialize(node),
            None => Err(de::Error::custom("a value without its key")),
        }
    }
}

/// One variable's text, parsed as whatever the field asks for.
struct Text<'a>(&'a str);

impl Text<'_> {
    fn number<T: std::str::FromStr>(&self) -> Result<T, EnvError> {
        self.0
            .parse()
            .map_err(|_| de::Error::custom("expected a whole number"))
    }
}

macro_rules! numbers {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EnvError> {
            visitor.$visit(self.number::<$ty>()?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Text<'_> {
    type Error = EnvError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EnvError> {
        visitor.visit_str(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EnvError> {
        match self.0.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => visitor.visit_bool(true),
            "false" | "0" | "no" | "off" => visitor.visit_bool(false),
            _ => Err(de::Error::custom("expected true or false")),
        }
    }

    numbers! {
        deserialize_u8 => visit_u8: u8, deserialize_u16 => visit_u16: u16, deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64, deserialize_i8 => visit_i8: i8, deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32, deserialize_i64 => visit_i64: i64, deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EnvError> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EnvError> {
        let items = self.0.split(',').map(str::trim).filter(|s| !s.is_empty());
        visitor.visit_seq(de::value::SeqDeserializer::new(items.map(Text)))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, EnvError> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, EnvError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple tuple_struct map struct identifier
        ignored_any
    }
}

impl<'de> IntoDeserializer<'de, EnvError> for Text<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}
