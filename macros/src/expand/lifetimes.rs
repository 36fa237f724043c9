//! Naming the item type's elided lifetimes, so that the item type can be repeated in an impl
//! header, a where clause or a closure's parameter, and the generics that declare them.

use proc_macro2::Span;
use quote::ToTokens;
use syn::visit_mut::VisitMut;
use syn::Type;

use super::tokens::respan;

/// The item type with every elided lifetime named (`&T`, `Tok<'_>`), so that it can be
/// repeated in an impl header or a where clause; the names to declare; and the outlives
/// bounds (`T: 'a` for each `&'a T`) that the function's signature implied but a where clause
/// must state.
pub struct NamedItem {
    pub ty: Type,
    pub lifetimes: Vec<syn::Lifetime>,
    pub outlives: Vec<syn::WherePredicate>,
}

pub fn name_elided_lifetimes(item_ty: &Type) -> NamedItem {
    struct Namer {
        lifetimes: Vec<syn::Lifetime>,
        outlives: Vec<syn::WherePredicate>,
    }
    impl Namer {
        fn fresh(&mut self, span: Span) -> syn::Lifetime {
            let name = format!("'__preallocate_{}", self.lifetimes.len());
            let lifetime = syn::Lifetime::new(&name, span);
            self.lifetimes.push(lifetime.clone());
            lifetime
        }
    }
    impl VisitMut for Namer {
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            if r.lifetime.is_none() {
                r.lifetime = Some(self.fresh(r.and_token.span));
            }
            syn::visit_mut::visit_type_reference_mut(self, r);
            if let Some(lifetime) = &r.lifetime {
                // Spanned at the attribute: a lint about this bound must not blame user code.
                let referent = respan(r.elem.to_token_stream(), Span::call_site());
                self.outlives
                    .push(syn::parse_quote_spanned!(Span::call_site()=> #referent: #lifetime));
            }
        }
        fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
            if l.ident == "_" {
                *l = self.fresh(l.apostrophe);
            }
        }
        // Elided lifetimes inside `fn(&T)` and `Fn(&T)` are higher-ranked: leave them be.
        fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}
        fn visit_parenthesized_generic_arguments_mut(
            &mut self,
            _: &mut syn::ParenthesizedGenericArguments,
        ) {
        }
        fn visit_type_trait_object_mut(&mut self, t: &mut syn::TypeTraitObject) {
            // `dyn Trait + '_` names its lifetime; what is inside the trait's own arguments
            // is left as written.
            for bound in &mut t.bounds {
                if let syn::TypeParamBound::Lifetime(l) = bound {
                    self.visit_lifetime_mut(l);
                }
            }
        }
    }
    let mut ty = item_ty.clone();
    let mut namer = Namer {
        lifetimes: Vec::new(),
        outlives: Vec::new(),
    };
    namer.visit_type_mut(&mut ty);
    NamedItem {
        ty,
        lifetimes: namer.lifetimes,
        outlives: namer.outlives,
    }
}

/// The function's generics (`generics`) with the item type's named lifetimes first and its
/// outlives bounds added to the where clause.
pub fn generics_with(generics: &syn::Generics, named: &NamedItem) -> syn::Generics {
    let mut generics = generics.clone();
    for (at, lifetime) in named.lifetimes.iter().enumerate() {
        generics.params.insert(
            at,
            syn::GenericParam::Lifetime(syn::LifetimeParam::new(lifetime.clone())),
        );
    }
    generics
        .make_where_clause()
        .predicates
        .extend(named.outlives.iter().cloned());
    generics
}
