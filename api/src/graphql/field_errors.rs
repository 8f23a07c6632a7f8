//! Field errors in `data` the way the GraphQL specification handles them.
//!
//! async-graphql 7 leaves a field whose resolver failed out of `data` altogether, and answers
//! `data: null` when every top-level field failed. The specification ("Handling Field Errors")
//! has the failed field answer `null` and, when its type is non-null, the null propagate to the
//! nearest nullable parent (or to `data`). Typed clients depend on that: Apollo iOS and Kotlin
//! refuse an object with a missing field, and Apollo Client and Relay warn and mis-cache it.
//!
//! [`repair`] restores the specification's shape after execution from the error paths, the
//! executed document and the field types of the schema. Only responses with field errors pay
//! for it; successful ones are untouched.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, SelectionSet, Type,
    TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, PathSegment, ServerError, Value};

/// Fragments nest at most this deep while a path is looked up (validated documents have no
/// fragment cycles; this only bounds the work on a pathological one).
const MAX_FRAGMENT_NESTING: usize = 64;

/// The type of every field of every object and interface, by type and field name.
#[derive(Debug, Default)]
pub struct FieldTypes {
    fields: HashMap<String, HashMap<String, Type>>,
    query: String,
    mutation: String,
    subscription: String,
}

impl FieldTypes {
    /// Reads the field types from the schema's SDL.
    ///
    /// # Errors
    /// The parser's message, when the SDL does not parse (a bug: it comes from the schema).
    pub fn from_sdl(sdl: &str) -> Result<FieldTypes, String> {
        let document = async_graphql::parser::parse_schema(sdl).map_err(|err| err.to_string())?;
        let mut types = FieldTypes {
            query: "Query".into(),
            mutation: "Mutation".into(),
            subscription: "Subscription".into(),
            ..FieldTypes::default()
        };
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = schema.node;
                    if let Some(name) = schema.query {
                        types.query = name.node.to_string();
                    }
                    if let Some(name) = schema.mutation {
                        types.mutation = name.node.to_string();
                    }
                    if let Some(name) = schema.subscription {
                        types.subscription = name.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(definition) => {
                    let definition = definition.node;
                    let fields = match definition.kind {
                        TypeKind::Object(object) => object.fields,
                        TypeKind::Interface(interface) => interface.fields,
                        _ => continue,
                    };
                    let fields = fields.into_iter().map(|f| (f.node.name.node.to_string(), f.node.ty.node)).collect();
                    types.fields.insert(definition.name.node.to_string(), fields);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        Ok(types)
    }

    fn root(&self, operation: OperationType) -> &str {
        match operation {
            OperationType::Query => &self.query,
            OperationType::Mutation => &self.mutation,
            OperationType::Subscription => &self.subscription,
        }
    }

    fn field(&self, parent: &str, name: &str) -> Option<&Type> {
        self.fields.get(parent)?.get(name)
    }
}

/// One step of an error's path, with whether the value there may be `null`.
#[derive(Debug)]
struct Step<'a> {
    segment: &'a PathSegment,
    non_null: bool,
}

/// Puts every failed field into `data` as `null` and propagates each null up through non-null
/// fields, as the specification says. `data` is the executed operation's result; `errors` are
/// its errors (those without a path, or with one that does not resolve against the document,
/// are left alone).
pub fn repair(
    data: &mut Value,
    errors: &[ServerError],
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    types: &FieldTypes,
) {
    let Some(operation) = operation(document, operation_name) else { return };
    let paths: Vec<Vec<Step<'_>>> =
        errors.iter().filter_map(|error| steps(&error.path, operation, document, types)).collect();
    if paths.is_empty() {
        return;
    }
    if matches!(data, Value::Null) {
        // Every top-level field failed: async-graphql answered `null` for an empty object.
        *data = Value::Object(Default::default());
    }
    // First every failed field becomes `null` (objects whose every field failed become objects
    // again), then the nulls propagate: in that order, one error's propagation never hides
    // where another error's field belongs.
    for steps in &paths {
        insert_null(data, steps);
    }
    for steps in &paths {
        let Some(nullable) = steps.iter().rposition(|step| !step.non_null) else {
            // Non-null all the way up: the null reaches `data`.
            *data = Value::Null;
            return;
        };
        // When the failed field itself is nullable, it is `null` already.
        if nullable + 1 < steps.len() {
            set_null(data, &steps[..=nullable]);
        }
    }
}

fn operation<'d>(document: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name).map(|o| &o.node),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|o| &o.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Resolves an error path against the document and the schema: each segment with whether its
/// value is non-null. `None` when some segment cannot be placed (introspection, say).
fn steps<'a>(
    path: &'a [PathSegment],
    operation: &OperationDefinition,
    document: &ExecutableDocument,
    types: &FieldTypes,
) -> Option<Vec<Step<'a>>> {
    if path.is_empty() {
        return None;
    }
    let mut steps = Vec::with_capacity(path.len());
    // The selection sets the next field key is looked up in, each with its parent type.
    let mut sets: Vec<(&SelectionSet, String)> =
        vec![(&operation.selection_set.node, types.root(operation.ty).to_owned())];
    let mut current: Option<Type> = None;
    for segment in path {
        match segment {
            PathSegment::Field(key) => {
                if let Some(ty) = &current
                    && !matches!(ty.base, BaseType::Named(_))
                {
                    return None;
                }
                let mut found: Vec<(&Field, String)> = Vec::new();
                for (set, parent) in &sets {
                    collect_fields(set, key, parent, document, 0, &mut found);
                }
                let (field, parent) = found.first()?;
                let ty = types.field(parent, field.name.node.as_str())?.clone();
                steps.push(Step { segment, non_null: !ty.nullable });
                let BaseType::Named(named) = innermost(&ty) else { return None };
                let named = named.to_string();
                sets = found.iter().map(|(field, _)| (&field.selection_set.node, named.clone())).collect();
                current = Some(ty);
            }
            PathSegment::Index(_) => {
                let Some(Type { base: BaseType::List(item), .. }) = current else { return None };
                steps.push(Step { segment, non_null: !item.nullable });
                current = Some(*item);
            }
        }
    }
    Some(steps)
}

fn innermost(ty: &Type) -> &BaseType {
    match &ty.base {
        BaseType::List(item) => innermost(item),
        named @ BaseType::Named(_) => named,
    }
}

/// Every field of `set` (fragments included) answering under `key`, with the type it is
/// selected on.
fn collect_fields<'d>(
    set: &'d SelectionSet,
    key: &str,
    parent: &str,
    document: &'d ExecutableDocument,
    nesting: usize,
    found: &mut Vec<(&'d Field, String)>,
) {
    use async_graphql::parser::types::Selection;
    if nesting > MAX_FRAGMENT_NESTING {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                if field.node.response_key().node.as_str() == key {
                    found.push((&field.node, parent.to_owned()));
                }
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    let on = fragment.node.type_condition.node.on.node.as_str();
                    collect_fields(&fragment.node.selection_set.node, key, on, document, nesting + 1, found);
                }
            }
            Selection::InlineFragment(inline) => {
                let on =
                    inline.node.type_condition.as_ref().map_or(parent, |condition| condition.node.on.node.as_str());
                collect_fields(&inline.node.selection_set.node, key, on, document, nesting + 1, found);
            }
        }
    }
}

/// Walks to the failed field, turning `null` objects on the way back into objects, and sets the
/// field to `null` (adding it when async-graphql left it out).
fn insert_null(data: &mut Value, steps: &[Step<'_>]) {
    let mut value = data;
    for (index, step) in steps.iter().enumerate() {
        let last = index + 1 == steps.len();
        let child = match (step.segment, value) {
            (PathSegment::Field(key), Value::Object(object)) => object.entry(Name::new(key)).or_insert(Value::Null),
            (PathSegment::Index(i), Value::List(items)) => match items.get_mut(*i) {
                Some(item) => item,
                None => return,
            },
            _ => return,
        };
        if last {
            *child = Value::Null;
            return;
        }
        if matches!(child, Value::Null) {
            match steps[index + 1].segment {
                PathSegment::Field(_) => *child = Value::Object(Default::default()),
                // A list is never left out for one failed item; nothing to restore.
                PathSegment::Index(_) => return,
            }
        }
        value = child;
    }
}

/// Sets the value at the end of `steps` to `null`, if everything above it is still there.
fn set_null(data: &mut Value, steps: &[Step<'_>]) {
    let mut value = data;
    for step in steps {
        value = match (step.segment, value) {
            (PathSegment::Field(key), Value::Object(object)) => match object.get_mut(key.as_str()) {
                Some(child) => child,
                None => return,
            },
            (PathSegment::Index(i), Value::List(items)) => match items.get_mut(*i) {
                Some(item) => item,
                None => return,
            },
            // An ancestor is `null` already.
            _ => return,
        };
    }
    *value = Value::Null;
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Pos;
    use serde_json::json;

    const SDL: &str = r"
        interface Node { id: ID! }
        type Query { version: String! order(id: ID!): Order me: Me! node(id: ID!): Node orders: [Order!]! }
        type Me { name: String! email: String }
        type Order implements Node { id: ID! number: String! lines: [Line!]! note: String }
        type Line { quantity: Int! product: Product }
        type Product implements Node { id: ID! sku: String! }
    ";

    fn error(path: serde_json::Value) -> ServerError {
        let mut error = ServerError::new("boom", Some(Pos::default()));
        error.path = serde_json::from_value(path).expect("a path");
        error
    }

    fn repaired(query: &str, data: serde_json::Value, paths: &[serde_json::Value]) -> serde_json::Value {
        let types = FieldTypes::from_sdl(SDL).expect("sdl");
        let document = async_graphql::parser::parse_query(query).expect("query");
        let errors: Vec<_> = paths.iter().cloned().map(error).collect();
        let mut data = Value::from_json(data).expect("data");
        repair(&mut data, &errors, &document, None, &types);
        data.into_json().expect("json")
    }

    #[test]
    fn a_failed_nullable_field_answers_null_beside_its_siblings() {
        let data = repaired("{ version order(id: 1) { id } }", json!({ "version": "1" }), &[json!(["order"])]);
        assert_eq!(data, json!({ "version": "1", "order": null }));
    }

    #[test]
    fn a_lone_failed_field_keeps_data_an_object() {
        let data = repaired("{ order(id: 1) { id } }", json!(null), &[json!(["order"])]);
        assert_eq!(data, json!({ "order": null }));
    }

    #[test]
    fn a_failed_non_null_top_level_field_nulls_data() {
        let data = repaired("{ version me { name } }", json!({ "version": "1" }), &[json!(["me"])]);
        assert_eq!(data, json!(null));
    }

    #[test]
    fn a_non_null_failure_propagates_to_the_nearest_nullable_parent() {
        let data = repaired(
            "{ version order(id: 1) { id lines { quantity } } }",
            json!({ "version": "1", "order": { "id": "o" } }),
            &[json!(["order", "lines"])],
        );
        assert_eq!(data, json!({ "version": "1", "order": null }));
    }

    #[test]
    fn list_items_and_aliases_are_followed() {
        let data = repaired(
            "{ mine: order(id: 1) { lines { quantity thing: product { sku } } } }",
            json!({ "mine": { "lines": [{ "quantity": 1, "thing": { "sku": "a" } }, { "quantity": 2 }] } }),
            &[json!(["mine", "lines", 1, "thing"])],
        );
        assert_eq!(
            data,
            json!({ "mine": { "lines": [{ "quantity": 1, "thing": { "sku": "a" } }, { "quantity": 2, "thing": null }] } })
        );
    }

    #[test]
    fn a_non_null_failure_inside_a_non_null_list_item_climbs_to_a_nullable_field() {
        let data = repaired(
            "{ version orders { id number } }",
            json!({ "version": "1", "orders": [{ "id": "a", "number": "1" }, { "id": "b" }] }),
            &[json!(["orders", 1, "number"])],
        );
        assert_eq!(data, json!(null), "orders is [Order!]!, so the null reaches data");
    }

    #[test]
    fn an_object_whose_every_field_failed_is_an_object_of_nulls() {
        let data = repaired(
            "{ me { email } order(id: 1) { note } }",
            json!({ "order": { "note": "x" } }),
            &[json!(["me", "email"])],
        );
        assert_eq!(data, json!({ "me": { "email": null }, "order": { "note": "x" } }));
    }

    #[test]
    fn fields_inside_fragments_are_found_with_their_type_condition() {
        let data = repaired(
            "query { node(id: 1) { ...P } } fragment P on Product { id code: sku }",
            json!({ "node": { "id": "p" } }),
            &[json!(["node", "code"])],
        );
        assert_eq!(data, json!({ "node": null }), "sku is non-null, node is nullable");
        let inline =
            repaired("{ node(id: 1) { ... on Order { note } } }", json!({ "node": {} }), &[json!(["node", "note"])]);
        assert_eq!(inline, json!({ "node": { "note": null } }));
    }

    #[test]
    fn paths_the_document_does_not_know_are_left_alone() {
        let data = repaired("{ version }", json!({ "version": "1" }), &[json!(["__schema", "types"])]);
        assert_eq!(data, json!({ "version": "1" }));
    }
}
