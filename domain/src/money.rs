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
        let code = raw.trim().to_ascii_uppercase();
        let exponent = NON_TWO_DECIMAL
            .iter()
            .chain(std::iter::once(&XPF))
            .find(|(c, _)| *c == code)
            .map(|(_, e)| *e)
            .or_else(|| TWO_DECIMAL.contains(&code.as_str()).then_some(2));
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
    }
}
