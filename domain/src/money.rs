//! Currencies (ISO 4217) and, later, money: integer minor units of one currency, never floats.

use std::fmt;

use crate::error::Invalid;

/// Active ISO 4217 codes whose minor unit is not 2 decimal places, with their exponent.
const NON_TWO_DECIMAL: [(&str, u8); 25] = [
    ("BHD", 3),
    ("BIF", 0),
    ("CLF", 4),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("UYI", 0),
    ("UYW", 4),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
];
/// The longest decimal amount accepted, in characters: ±9.2 × 10^18 minor units need at most
/// 21 with sign and point; longer input is refused before it is read, and never echoed.
pub const MAX_AMOUNT_CHARS: usize = 32;
/// CFP franc: listed apart only to keep the table above one screen wide.
const XPF: (&str, u8) = ("XPF", 0);

/// Active ISO 4217 codes with two decimal places.
const TWO_DECIMAL: [&str; 131] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD", "BND",
    "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CUP", "CVE", "CZK",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK",
    "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON",
    "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD",
    "YER", "ZAR", "ZMW",
];

/// An ISO 4217 currency that Keel knows the minor unit of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    /// Parses a three-letter code, case-insensitively.
    ///
    /// # Errors
    /// `Invalid` on `field` for anything that is not an active ISO 4217 code.
    pub fn parse(field: &str, raw: &str) -> Result<Currency, Invalid> {
        if raw.trim().chars().nth(3).is_some() {
            // Not echoed: it could be a megabyte long.
            return Err(Invalid::with_code(field, "UNKNOWN_CURRENCY", "must be a three-letter ISO 4217 currency code"));
        }
        let code = raw.trim().to_ascii_uppercase();
        let exponent = NON_TWO_DECIMAL
            .iter()
            .chain(std::iter::once(&XPF))
            .find(|(c, _)| *c == code)
            .map(|(_, e)| *e)
            // Sorted (a test checks): every stored price and order total is parsed through here.
            .or_else(|| TWO_DECIMAL.binary_search(&code.as_str()).is_ok().then_some(2));
        match (exponent, code.as_bytes()) {
            (Some(exponent), &[a, b, c]) => Ok(Currency { code: [a, b, c], exponent }),
            _ => {
                Err(Invalid::with_code(field, "UNKNOWN_CURRENCY", format!("`{raw}` is not an ISO 4217 currency code")))
            }
        }
    }

    /// The three-letter code, e.g. `USD`.
    pub fn code(&self) -> &str {
        // Always three ASCII upper-case letters, checked in `parse`.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Decimal places of the minor unit: JPY 0, USD 2, KWD 3.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_decimal_table_is_sorted_for_binary_search() {
        assert!(TWO_DECIMAL.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(Currency::parse("c", "usd").map(|c| c.exponent()), Ok(2));
        for code in TWO_DECIMAL {
            assert_eq!(Currency::parse("c", code).map(|c| c.exponent()), Ok(2), "{code}");
        }
    }

    #[test]
    fn currencies_know_their_minor_unit() {
        let exponent = |code| Currency::parse("currencyCode", code).map(|c| c.exponent());

        assert_eq!(exponent("JPY"), Ok(0));
        assert_eq!(exponent("usd"), Ok(2));
        assert_eq!(exponent("KWD"), Ok(3));
        assert_eq!(exponent("XPF"), Ok(0));
    }

    #[test]
    fn unknown_codes_are_refused_naming_the_field() {
        for raw in ["", "US", "USDX", "XXX", "ABC", "€"] {
            let err = Currency::parse("currencyCode", raw).expect_err(raw);
            assert_eq!((err.field(), err.code()), (&["currencyCode".to_owned()][..], "UNKNOWN_CURRENCY"));
        }
        let long = Currency::parse("currencyCode", &"Q".repeat(10_000)).expect_err("long");
        assert!(!long.message().contains("QQQQ"), "a long code is not echoed: {}", long.message());
    }
}

/// An amount of one currency in integer minor units (cents for USD, yen for JPY, fils for
/// KWD). Arithmetic is checked and refuses to mix currencies; there is no floating point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// An amount from minor units.
    pub fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Parses a decimal string such as `"12.50"` in `currency`: an optional `-`, digits, and at
    /// most as many decimals as the currency has (`"12.345"` is not a USD amount).
    ///
    /// # Errors
    /// `Invalid` on `field` for anything else, or an amount beyond ±9.2 × 10^18 minor units.
    pub fn parse(field: &str, raw: &str, currency: Currency) -> Result<Money, Invalid> {
        let exponent = usize::from(currency.exponent());
        let text = raw.trim();
        if text.len() > MAX_AMOUNT_CHARS {
            return Err(Invalid::new(field, format!("must be at most {MAX_AMOUNT_CHARS} characters, like 12.50")));
        }
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let well_formed = !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && (digits.contains('.') != fraction.is_empty());
        if !well_formed {
            return Err(Invalid::new(field, format!("`{raw}` is not a decimal amount like 12.50")));
        }
        if fraction.len() > exponent {
            return Err(Invalid::with_code(
                field,
                "TOO_MANY_DECIMALS",
                format!("{} amounts have at most {exponent} decimal places", currency.code()),
            ));
        }
        let padded = format!("{whole}{fraction:0<exponent$}");
        let magnitude: i64 = padded.parse().map_err(|_| Invalid::new(field, "the amount is too large"))?;
        Ok(Money { minor: if negative { -magnitude } else { magnitude }, currency })
    }

    /// The amount in minor units.
    pub fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// `self + other`, or `None` on overflow or mixed currencies.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency).then_some(())?;
        Some(Money { minor: self.minor.checked_add(other.minor)?, currency: self.currency })
    }

    /// `self × quantity`, or `None` on overflow.
    pub fn checked_mul(self, quantity: i64) -> Option<Money> {
        Some(Money { minor: self.minor.checked_mul(quantity)?, currency: self.currency })
    }
}

impl fmt::Display for Money {
    /// The decimal form with exactly the currency's decimals: `12.50`, `1200`, `1.250`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = u32::from(self.currency.exponent());
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{magnitude}");
        }
        let scale = 10u64.pow(exponent);
        write!(f, "{sign}{}.{:0width$}", magnitude / scale, magnitude % scale, width = exponent as usize)
    }
}

#[cfg(test)]
mod money_tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse("currencyCode", code).expect("known currency")
    }

    #[test]
    fn amounts_respect_each_currencys_exponent() {
        assert_eq!(Money::parse("price", "12.5", currency("USD")).map(|m| m.minor()), Ok(1250));
        assert_eq!(Money::parse("price", "1200", currency("JPY")).map(|m| m.minor()), Ok(1200));
        assert_eq!(Money::parse("price", "1.234", currency("KWD")).map(|m| m.minor()), Ok(1234));
        assert_eq!(Money::parse("price", "-0.01", currency("EUR")).map(|m| m.minor()), Ok(-1));
        assert_eq!(Money::parse("price", "12.345", currency("USD")).map_err(|e| e.code()), Err("TOO_MANY_DECIMALS"));
        assert!(Money::parse("price", "1.5", currency("JPY")).is_err());
    }

    #[test]
    fn malformed_and_huge_amounts_are_refused() {
        for raw in ["", "-", ".5", "5.", "1e3", "1,50", " 1 2", "+1", "0x10", "12.5.0", "NaN", "99999999999999999999"] {
            assert!(Money::parse("price", raw, currency("USD")).is_err(), "{raw:?}");
        }
        let long = Money::parse("price", &"x".repeat(10_000), currency("USD")).expect_err("long");
        assert!(!long.message().contains("xxxx"), "a long amount is not echoed: {}", long.message());
        assert!(Money::parse("price", &format!("-{}.00", i64::MAX / 100), currency("USD")).is_ok(), "the longest fits");
    }

    #[test]
    fn arithmetic_is_checked_and_single_currency() {
        let usd = Money::from_minor(i64::MAX, currency("USD"));

        assert_eq!(usd.checked_add(Money::from_minor(1, currency("USD"))), None);
        assert_eq!(Money::from_minor(1, currency("USD")).checked_add(Money::from_minor(1, currency("EUR"))), None);
        assert_eq!(Money::from_minor(250, currency("USD")).checked_mul(3).map(|m| m.minor()), Some(750));
        assert_eq!(usd.checked_mul(2), None);
    }

    /// Property: for pseudo-random amounts in every exponent, display then parse is identity.
    #[test]
    fn display_and_parse_round_trip_for_random_amounts() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for code in ["JPY", "USD", "KWD", "CLF"] {
            for _ in 0..2_000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let minor = (state as i64) >> (state % 60);
                let money = Money::from_minor(minor, currency(code));

                let text = money.to_string();

                assert_eq!(Money::parse("price", &text, currency(code)), Ok(money), "{code} {minor} as {text}");
            }
        }
    }
}
