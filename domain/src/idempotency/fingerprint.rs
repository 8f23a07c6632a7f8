//! A request's fingerprint: the canonical encoding ([`Canonical`]) of its operation and every
//! field of its command, which each idempotent command writes by implementing [`Fingerprint`].
//!
//! The encoding is unambiguous: every field is written with its name, a type tag and its
//! length, so no value can pass for a separator or for the next field, an absent value (`n`) is
//! not an empty one (`s0:`), and a list says how long it is before its items, in their order.
//! It is never a `Debug` string: `Debug` redacts (an `Email` hides its local part), and two
//! requests it prints alike would replay each other's results.

use uuid::Uuid;

use super::model::Operation;

/// A command whose repeats are recognised by their content.
pub trait Fingerprint {
    /// The operation this command is.
    fn operation(&self) -> Operation;

    /// Writes every field of the command into `fields`, in a fixed order. Destructure the
    /// command, so that a field added later cannot be forgotten here.
    fn write_fields(&self, fields: &mut Canonical);
}

/// The canonical encoding of one request, built field by field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canonical(String);

impl Canonical {
    /// The encoding of `command`: its operation, then its fields.
    pub fn of(command: &(impl Fingerprint + ?Sized)) -> Canonical {
        let mut canonical = Canonical(String::new());
        canonical.put("operation", 'o', command.operation().as_str());
        command.write_fields(&mut canonical);
        canonical
    }

    /// The encoding, to hash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A text field.
    pub fn text(&mut self, field: &str, value: &str) -> &mut Self {
        self.put(field, 's', value)
    }

    /// A text field that may be absent (absent is not empty).
    pub fn optional_text(&mut self, field: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(field, value),
            None => self.put(field, 'n', ""),
        }
    }

    /// A whole number.
    pub fn number(&mut self, field: &str, value: i64) -> &mut Self {
        self.put(field, 'i', &value.to_string())
    }

    /// An id.
    pub fn id(&mut self, field: &str, value: Uuid) -> &mut Self {
        self.put(field, 'u', &value.hyphenated().to_string())
    }

    /// An id that may be absent.
    pub fn optional_id(&mut self, field: &str, value: Option<Uuid>) -> &mut Self {
        match value {
            Some(value) => self.id(field, value),
            None => self.put(field, 'n', ""),
        }
    }

    /// The start of a list of `len` items; the items follow, in their order.
    pub fn list(&mut self, field: &str, len: usize) -> &mut Self {
        self.put(field, 'l', &len.to_string())
    }

    /// `<name length>:<name><tag><value length>:<value>`: lengths in bytes, so the encoding
    /// reads back one way only, whatever the name or value holds.
    fn put(&mut self, field: &str, tag: char, value: &str) -> &mut Self {
        for part in [&field.len().to_string(), ":", field] {
            self.0.push_str(part);
        }
        self.0.push(tag);
        for part in [&value.len().to_string(), ":", value] {
            self.0.push_str(part);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fields(Vec<(&'static str, Option<&'static str>)>);

    impl Fingerprint for Fields {
        fn operation(&self) -> Operation {
            Operation::PlaceOrder
        }

        fn write_fields(&self, fields: &mut Canonical) {
            fields.list("fields", self.0.len());
            for (name, value) in &self.0 {
                fields.optional_text(name, *value);
            }
        }
    }

    fn encode(fields: &[(&'static str, Option<&'static str>)]) -> String {
        Canonical::of(&Fields(fields.to_vec())).as_str().to_owned()
    }

    #[test]
    fn values_that_would_run_together_stay_apart() {
        let split_differently = [
            encode(&[("a", Some("x;b")), ("b", Some(""))]),
            encode(&[("a", Some("x")), ("b", Some(";b"))]),
            encode(&[("a", Some("x;b=s0:"))]),
            encode(&[("a", Some("1:bs0:"))]),
        ];

        let distinct: std::collections::HashSet<&String> = split_differently.iter().collect();
        assert_eq!(distinct.len(), split_differently.len(), "{split_differently:#?}");
    }

    #[test]
    fn an_absent_value_is_not_an_empty_one() {
        assert_ne!(encode(&[("note", None)]), encode(&[("note", Some(""))]));
    }

    #[test]
    fn list_order_and_length_count() {
        let one_two = encode(&[("a", Some("1")), ("a", Some("2"))]);

        assert_ne!(one_two, encode(&[("a", Some("2")), ("a", Some("1"))]));
        assert_ne!(one_two, encode(&[("a", Some("1"))]));
    }

    #[test]
    fn the_operation_is_part_of_the_encoding() {
        struct Receive;
        impl Fingerprint for Receive {
            fn operation(&self) -> Operation {
                Operation::ReceiveStock
            }
            fn write_fields(&self, fields: &mut Canonical) {
                fields.list("fields", 0);
            }
        }

        assert_ne!(Canonical::of(&Receive).as_str(), encode(&[]));
    }

    #[test]
    fn ids_and_numbers_are_written_in_full() {
        let id = Uuid::from_u128(0x0193_b0a4_7c1e_7d2a_9f00_1c2d_3e4f_5a6b);
        let mut canonical = Canonical(String::new());

        canonical.id("product", id).number("quantity", -12);

        assert_eq!(canonical.as_str(), "7:productu36:0193b0a4-7c1e-7d2a-9f00-1c2d3e4f5a6b8:quantityi3:-12");
    }
}
