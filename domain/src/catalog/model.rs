//! The catalog's values: [`Sku`], [`Product`], [`Location`], and how product lists are
//! filtered ([`ProductFilter`]) and sorted ([`ProductSort`]).

use time::OffsetDateTime;

use crate::auth::TenantScope;
use crate::error::Invalid;
use crate::ids::{LocationId, ProductId};
use crate::money::Money;
use crate::page::{Cursor, KeyKind, SortOrder, SortValue};

/// A stock-keeping unit: 1–64 of `A–Z 0–9 - _ .`, stored upper-case, unique per tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    /// Parses a SKU, upper-casing it.
    ///
    /// # Errors
    /// `Invalid` on `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Sku, Invalid> {
        let sku = raw.trim().to_ascii_uppercase();
        let valid = (1..=64).contains(&sku.len())
            && sku.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if valid { Ok(Sku(sku)) } else { Err(Invalid::new(field, "must be 1 to 64 of A-Z, 0-9, '-', '_' and '.'")) }
    }

    /// The SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest product description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// The largest low-stock threshold: no stock operation moves more units
/// ([`crate::inventory::MAX_QUANTITY`]).
pub const MAX_LOW_STOCK_THRESHOLD: i64 = 1_000_000;

/// Checks a low-stock threshold: `None` (no alerts) or 0..=[`MAX_LOW_STOCK_THRESHOLD`].
///
/// # Errors
/// `Invalid` on `field` for a negative or larger threshold.
pub fn parse_low_stock_threshold(field: &str, raw: Option<i64>) -> Result<Option<i64>, Invalid> {
    match raw {
        Some(threshold) if !(0..=MAX_LOW_STOCK_THRESHOLD).contains(&threshold) => {
            Err(Invalid::new(field, format!("must be between 0 and {MAX_LOW_STOCK_THRESHOLD}, or null for no alerts")))
        }
        checked => Ok(checked),
    }
}

/// The longest product search text, in characters: no name is longer.
pub const MAX_SEARCH_CHARS: usize = MAX_NAME_CHARS;

/// A product as sold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// Its SKU, unique in the tenant.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Free text, possibly empty.
    pub description: String,
    /// Unit price, in the tenant's currency, never negative.
    pub price: Money,
    /// Whether it can be sold; archived products are inactive.
    pub active: bool,
    /// Incremented on every change; updates must name the version they saw.
    pub version: i32,
    /// Below this many available units at a location, a stock change writes `stock.low`
    /// (see [`crate::events::stock_events`]); `None`: no alerts. Never negative.
    pub low_stock_threshold: Option<i64>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

impl Product {
    /// Whether the caller behind `scope` may know this product exists (see
    /// [`archived_visible_to`]).
    pub fn visible_to(&self, scope: &TenantScope) -> bool {
        self.active || archived_visible_to(scope)
    }
}

/// Whether callers under `scope` see archived products: everyone but customers. Customers see
/// only what is for sale; to them an archived product does not exist, so every read answers as
/// for an unknown product (`NotFound`, and `UNKNOWN_PRODUCT` in an order), never telling them
/// an archived SKU is there.
pub fn archived_visible_to(scope: &TenantScope) -> bool {
    scope.customer().is_none()
}

/// How a product list is filtered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductFilter {
    /// Case-insensitive substring of the name or SKU.
    pub search: Option<String>,
    /// Only active (`true`) or inactive (`false`) products.
    pub active: Option<bool>,
    /// Only products whose available stock, summed over all locations, is below this.
    pub available_below: Option<i64>,
}

/// What product lists can be sorted by; the id breaks ties in every order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProductSortKey {
    /// When it was created (the default: oldest first).
    #[default]
    CreatedAt,
    /// When it last changed.
    UpdatedAt,
    /// Its name, case-insensitively (by [`name_sort_key`]).
    Name,
    /// Its SKU (upper-case ASCII, byte order: `-` `.` digits letters `_`).
    Sku,
    /// Its price in minor units (all prices are in the tenant's currency).
    Price,
}

impl ProductSortKey {
    /// Every key.
    pub const ALL: [ProductSortKey; 5] = [
        ProductSortKey::CreatedAt,
        ProductSortKey::UpdatedAt,
        ProductSortKey::Name,
        ProductSortKey::Sku,
        ProductSortKey::Price,
    ];

    /// The order lists sorted by this key are read in, as cursors name it.
    pub fn order(self) -> SortOrder {
        let (name, kind) = match self {
            ProductSortKey::CreatedAt => ("CREATED_AT", KeyKind::Time),
            ProductSortKey::UpdatedAt => ("UPDATED_AT", KeyKind::Time),
            ProductSortKey::Name => ("NAME", KeyKind::Text),
            ProductSortKey::Sku => ("SKU", KeyKind::Text),
            ProductSortKey::Price => ("PRICE", KeyKind::Integer),
        };
        SortOrder { name, kind }
    }

    /// The product's value under this key: what storage sorts on and cursors remember.
    pub fn value_of(self, product: &Product) -> SortValue {
        match self {
            ProductSortKey::CreatedAt => SortValue::Time(product.created_at),
            ProductSortKey::UpdatedAt => SortValue::Time(product.updated_at),
            ProductSortKey::Name => SortValue::Text(name_sort_key(&product.name)),
            ProductSortKey::Sku => SortValue::Text(product.sku.as_str().to_owned()),
            ProductSortKey::Price => SortValue::Integer(product.price.minor()),
        }
    }
}

/// How a product list is ordered: a key, ascending unless `reverse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProductSort {
    /// What to sort by.
    pub key: ProductSortKey,
    /// Descending instead of ascending (ties then go by descending id too).
    pub reverse: bool,
}

impl ProductSort {
    /// The cursor of `product` in a list read in this sort.
    pub fn cursor_of(&self, product: &Product) -> Cursor {
        Cursor::new(self.key.order(), self.key.value_of(product), product.id.uuid())
    }
}

/// The text a name sorts by: the name lower-cased (Unicode), compared byte by byte, so "apple",
/// "Banana" and "banana" sort the same way on every backend. Storage keeps it next to the name.
pub fn name_sort_key(name: &str) -> String {
    name.to_lowercase()
}

/// A warehouse or shop floor that holds stock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Its id.
    pub id: LocationId,
    /// Short code, unique in the tenant (`MAIN`, `BER-1`).
    pub code: Sku,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn skus_are_normalised_and_checked() {
        assert_eq!(Sku::parse("sku", " tee-blue_m.1 ").map(|s| s.0), Ok("TEE-BLUE_M.1".to_owned()));
        for bad in ["", " ", "a b", "ä", &"x".repeat(65)] {
            assert!(Sku::parse("sku", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_archived_product_is_visible_to_everyone_but_customers() {
        use crate::auth::{Actor, KeyHolder, Member, Permission, Role, authorize};
        use crate::ids::{ApiKeyId, SessionId, TenantId, UserId};
        let tenant = TenantId::new();
        let member = |role| Actor::Member(Member::authenticated(tenant, UserId::new(), role, SessionId::new()));
        let key = Actor::ApiKey(KeyHolder::authenticated(tenant, ApiKeyId::new(), vec![Permission::CatalogRead]));
        let archived = Product { active: false, ..a_product() };

        for (actor, sees) in
            [(member(Role::Owner), true), (member(Role::Staff), true), (key, true), (member(Role::Customer), false)]
        {
            let scope = authorize(&actor, Permission::CatalogRead).expect("catalog:read");
            assert_eq!(archived.visible_to(&scope), sees, "{actor:?}");
            assert!(a_product().visible_to(&scope), "{actor:?} sees what is for sale");
        }
    }

    /// The currency the tests' tenant sells in.
    pub(in crate::catalog) fn usd() -> Currency {
        Currency::parse("c", "USD").expect("usd")
    }

    /// An active product, updated five seconds after it was created.
    pub(in crate::catalog) fn a_product() -> Product {
        let now = OffsetDateTime::UNIX_EPOCH;
        Product {
            id: ProductId::new(),
            sku: Sku::parse("sku", "TEE-1").expect("sku"),
            name: "Red Tee".into(),
            description: String::new(),
            price: Money::from_minor(1990, usd()),
            active: true,
            version: 1,
            low_stock_threshold: None,
            created_at: now,
            updated_at: now + time::Duration::seconds(5),
        }
    }

    #[test]
    fn names_sort_case_insensitively_and_every_key_has_its_own_order() {
        let product = a_product();

        assert_eq!(name_sort_key("Äpfel & Birnen"), "äpfel & birnen");
        assert_eq!(ProductSortKey::Name.value_of(&product), SortValue::Text("red tee".into()));
        assert_eq!(ProductSortKey::Sku.value_of(&product), SortValue::Text("TEE-1".into()));
        assert_eq!(ProductSortKey::Price.value_of(&product), SortValue::Integer(1990));
        assert_eq!(ProductSortKey::UpdatedAt.value_of(&product), SortValue::Time(product.updated_at));
        let names: std::collections::HashSet<_> = ProductSortKey::ALL.iter().map(|k| k.order().name).collect();
        assert_eq!(names.len(), ProductSortKey::ALL.len(), "cursors of two keys must never be mistaken");
        for key in ProductSortKey::ALL {
            let cursor = ProductSort { key, reverse: false }.cursor_of(&product);
            assert!(cursor.fits(key.order()), "{key:?}");
            assert_eq!(cursor.id, product.id.uuid());
        }
    }
}
