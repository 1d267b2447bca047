//! Form bodies and query strings read into typed structs. A name sent several times
//! fills a `Vec` field with every value, in order (a group of checkboxes), and any
//! other field with the first, so a repeated name never makes a form unreadable; a
//! name the struct does not know is ignored. Bytes that are not UTF-8 read as U+FFFD.
//!
//! Fields are strings, `Option`s, `Vec`s or unit-variant enums: the handlers parse
//! numbers themselves, to refuse a bad one with a sentence of their own.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::de::value::{CowStrDeserializer, Error, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::PageError;

/// A request's query string read by [`parse`]: what a link or a `GET` form carries.
/// A query missing a field `T` requires is refused with `400`.
pub(crate) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        let query = parts.uri.query().unwrap_or_default();
        parse(query.as_bytes())
            .map(Self)
            .map_err(|error| PageError::BadRequest(format!("The address is not valid: {error}.")))
    }
}

/// `input` (`a=1&b=2`, percent-encoded, `+` for space) as a `T`. Fails only when a
/// field `T` requires is missing, or a value is not one of an enum's.
pub(crate) fn parse<T: DeserializeOwned>(input: &[u8]) -> Result<T, Error> {
    let mut fields: BTreeMap<Cow<'_, str>, Values<'_>> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(input) {
        fields.entry(name).or_default().0.push(value);
    }
    T::deserialize(MapDeserializer::new(fields.into_iter()))
}

/// The first value of `name` in `input`, without reading the rest into a struct.
pub(crate) fn first<'a>(input: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
    form_urlencoded::parse(input).find(|(n, _)| n == name).map(|(_, value)| value)
}

/// Every value a name was sent with (never none).
#[derive(Default)]
struct Values<'a>(Vec<Cow<'a, str>>);

impl<'a> Values<'a> {
    fn first(self) -> CowStrDeserializer<'a, Error> {
        self.0.into_iter().next().unwrap_or_default().into_deserializer()
    }
}

impl<'de, 'a> IntoDeserializer<'de, Error> for Values<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de, 'a> de::Deserializer<'de> for Values<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.first().deserialize_any(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(SeqDeserializer::new(self.0.into_iter()))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.first().deserialize_enum(name, variants, visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Form {
        name: String,
        note: Option<String>,
        #[serde(default)]
        grant_type: Vec<String>,
        box_ticked: Option<String>,
    }

    #[test]
    fn repeated_names_fill_lists_and_give_their_first_value_elsewhere() {
        let form: Form = parse(b"grant_type=password&name=A+b&grant_type=client-credentials&name=second&x=1").unwrap();
        assert_eq!(
            form,
            Form {
                name: "A b".into(),
                note: None,
                grant_type: vec!["password".into(), "client-credentials".into()],
                box_ticked: None,
            }
        );
        let form: Form = parse(b"name=&box_ticked=on&note=%E2%9C%93").unwrap();
        assert_eq!((form.name.as_str(), form.note.as_deref(), form.box_ticked.as_deref()), ("", Some("✓"), Some("on")));
        assert!(form.grant_type.is_empty());
        assert_eq!(parse::<Form>(b"name=%FF").unwrap().name, "\u{fffd}");
        assert!(parse::<Form>(b"note=x").is_err(), "name is required");
        assert_eq!(first(b"a=1&csrf_token=t&csrf_token=u", "csrf_token").as_deref(), Some("t"));
        assert_eq!(first(b"a=1", "csrf_token"), None);
    }

    #[test]
    fn enums_take_their_variant_names() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Choice {
            Yes,
            No,
        }
        #[derive(Deserialize)]
        struct Answer {
            choice: Option<Choice>,
        }
        assert_eq!(parse::<Answer>(b"choice=no&choice=yes").unwrap().choice, Some(Choice::No));
        assert_eq!(parse::<Answer>(b"").unwrap().choice, None);
        assert!(parse::<Answer>(b"choice=maybe").is_err());
    }
}
