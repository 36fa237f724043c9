//! Parsing and expansion as plain functions, without a compiler in the loop.

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::{self, Cast, Extent, OnError};
use crate::errors::Errors;
use crate::model::{self, Fails, Form, Owner, Receiver};
use crate::spec::{Bodies, Krate, OutputShape, Policy, Spec, Storage};

fn parse_attr(tokens: TokenStream) -> (attr::Args, Vec<String>) {
    let mut errors = Errors::default();
    let args = attr::parse(tokens, &mut errors);
    (args, errors.messages())
}

#[test]
fn every_key_is_read() {
    let (args, errors) = parse_attr(quote!(
        shape = (28, SIDE),
        dtype = u8,
        cast = "saturate",
        on_error = "skip",
        crate = pa
    ));
    assert!(errors.is_empty(), "{errors:?}");
    let shape = args.row_shape().expect("a shape");
    assert!(matches!(
        shape.as_slice(),
        [Extent::Literal(28, _), Extent::Const(_)]
    ));
    assert_eq!(args.dtype.as_ref().map(|(d, _)| d.name()), Some("u8"));
    assert_eq!(args.cast(), Cast::Saturate);
    assert_eq!(args.on_error(), OnError::Skip);
    assert_eq!(
        args.krate.as_ref().map(crate::errors::shown).as_deref(),
        Some("pa")
    );
}

#[test]
fn every_error_of_an_attribute_is_collected() {
    let (args, errors) = parse_attr(quote!(
        dim = 0,
        dtype = float32,
        dims = 3,
        cast = 1,
        dim = 2
    ));
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(errors[0].starts_with("`dim` must be at least 1"));
    assert!(errors[1].starts_with("unknown dtype `float32` (did you mean `f32`?)"));
    assert!(errors[2].starts_with("unknown key `dims`"));
    assert!(errors[3].starts_with("`cast` takes a string"));
    assert_eq!(errors[4], "`dim` may only be specified once");
    assert!(args.dim.is_none() && args.dtype.is_none());
}

#[test]
fn malformed_attributes_stop_with_syn_s_error() {
    let (args, errors) = parse_attr(quote!(dim 3));
    assert!(args.malformed);
    assert_eq!(errors.len(), 1);
}

fn analyze(func: TokenStream) -> (Option<model::RowSignature>, Vec<String>) {
    let func: syn::ItemFn = syn::parse2(func).expect("a function");
    let mut errors = Errors::default();
    let sig = model::analyze(&func, &mut errors);
    (sig, errors.messages())
}

#[test]
fn signatures_are_read_into_the_row_model() {
    let (sig, errors) = analyze(quote!(
        fn f(&mut self, x: &X, row: &mut [[u8; 3]; 2]) -> Result<bool, E> {}
    ));
    assert!(errors.is_empty(), "{errors:?}");
    let sig = sig.expect("valid");
    assert_eq!(sig.function.owner, Owner::Method(Receiver::Mutable));
    assert_eq!(sig.function.form, Form::InPlace);
    assert_eq!(sig.lens.len(), 2);
    assert_eq!(model::literal_len(&sig.lens[0]), Some(2));
    assert!(matches!(sig.function.fails, Fails::With(_)) && sig.function.filtering);

    let (sig, _) = analyze(quote!(
        fn f(x: Rec) -> Option<[f32; 4]> {}
    ));
    let sig = sig.expect("valid");
    assert_eq!(
        (
            sig.function.form,
            sig.function.filtering,
            matches!(sig.function.fails, Fails::Never)
        ),
        (Form::ByValue, true, true)
    );
}

#[test]
fn signature_errors_are_all_reported() {
    let (sig, errors) = analyze(quote!(
        async unsafe fn f<T>(x: &u8) -> [u8; 1] {}
    ));
    assert!(sig.is_none());
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("`async fn`"));
    assert!(errors[1].contains("`unsafe fn`"));
    assert!(errors[2].contains("generic parameter `T` does not appear in the item type `&u8`"));
}

#[test]
fn expansion_joins_the_function_to_the_runtime() {
    let out = crate::expand::expand(
        quote!(dim = 3, dtype = f32),
        quote!(
            pub fn featurize(p: &Point) -> [f32; 3] {
                [p.x, p.y, p.z]
            }
        ),
    )
    .to_string();
    assert!(
        out.contains("pub fn featurize (p : & Point)"),
        "the function is kept: {out}"
    );
    assert!(out.contains("pub mod featurize"));
    // A `&Point` item is taken in any form that lends one (`Point`, `&&Point`, ...).
    assert!(
        out.contains(
            "impl < __PreallocateItem : :: preallocate :: __private :: ItemRef < Point > > :: preallocate :: __private :: RowFn < __PreallocateItem > for featurize :: Row"
        ),
        "{out}"
    );
    assert!(out.contains(":: preallocate :: __private :: batch"));
    assert!(!out.contains("compile_error"));
    // The policy is a type declared once; the entry points' return types are spelled out as
    // the policy's, so that the docs show them.
    assert!(out.contains("type Policy = :: preallocate :: __private :: policy :: Plain ;"));
    assert!(!out.contains("type Failure"));
    assert!(out.contains(
        "fn batch < I > (items : I) -> :: preallocate :: __private :: ndarray :: Array < :: core :: primitive :: f32"
    ), "{out}");
    assert!(out.contains(
        "-> :: core :: result :: Result < usize , :: preallocate :: __private :: Error >"
    ));
    assert!(out
        .contains("__private :: store :: < :: preallocate :: __private :: cast :: Lossless , f32"));
}

#[test]
fn a_fallible_method_declares_its_policy_in_fn_row() {
    let out = crate::expand::expand(
        quote!(dim = 1, dtype = u8, cast = "checked", on_error = "skip"),
        quote!(
            fn level(&self, x: &f32) -> [f32; 1] {
                [*x]
            }
        ),
    )
    .to_string();
    assert!(out.contains(
        "FnRow :: < _ , :: core :: primitive :: u8 , :: preallocate :: __private :: Axes1 < 1usize > , :: core :: convert :: Infallible , :: preallocate :: __private :: policy :: Skipping , true >"
    ), "{out}");
    assert!(out.contains("Policy = :: preallocate :: __private :: policy :: Skipping"));
    assert!(out.contains("cast :: Checked"));
}

#[test]
fn methods_get_siblings_not_a_module() {
    let out = crate::expand::expand(
        quote!(dim = 1, dtype = f64),
        quote!(
            pub fn scale(&self, x: &f64) -> [f64; 1] {
                [x * self.0]
            }
        ),
    )
    .to_string();
    assert!(out.contains("pub fn scale_batch"));
    assert!(out.contains("pub fn scale_fill"));
    assert!(out.contains("pub const SCALE_DIM : usize"));
    assert!(!out.contains("mod scale"));
}

fn validate(attr: TokenStream, func: TokenStream) -> Result<Spec, crate::valid::Invalid<Spec>> {
    let func: syn::ItemFn = syn::parse2(func).expect("a function");
    let mut errors = Errors::default();
    let args = attr::parse(attr, &mut errors);
    let sig = model::analyze(&func, &mut errors);
    crate::valid::validate(&args, sig, &func, errors)
}

#[test]
fn validation_resolves_every_key() {
    let Ok(spec) = validate(
        quote!(shape = (2, 3), dtype = f64, on_error = "skip"),
        quote!(
            fn f(x: &X) -> Result<[[f32; 3]; 2], E> {}
        ),
    ) else {
        panic!("valid");
    };
    assert_eq!(spec.bodies, Bodies::Real);
    assert_eq!(spec.policy, Policy::Skipping);
    assert_eq!(spec.dtype.name(), "f64");
    assert_eq!(spec.cast, Cast::Lossless);
    assert_eq!(spec.rank(), 2);
    assert!(matches!(spec.krate, Krate::Absolute(_)));
}

#[test]
fn policies_follow_what_the_function_can_do() {
    let policy = |attr, func| validate(attr, func).ok().expect("valid").policy;
    assert_eq!(
        policy(
            quote!(dim = 1, dtype = f32),
            quote!(
                fn f(x: u8) -> [u8; 1] {}
            )
        ),
        Policy::Plain
    );
    assert_eq!(
        policy(
            quote!(dim = 1, dtype = f32),
            quote!(
                fn f(x: u8) -> Option<[u8; 1]> {}
            )
        ),
        Policy::Filtered
    );
    assert_eq!(
        policy(
            quote!(dim = 1, dtype = u8, cast = "checked"),
            quote!(
                fn f(x: u8) -> [f32; 1] {}
            )
        ),
        Policy::Fallible
    );
    assert_eq!(
        policy(
            quote!(dim = 1, dtype = f32),
            quote!(
                fn f(x: u8, row: &mut [f32; 1]) -> Result<bool, E> {}
            )
        ),
        Policy::FallibleFiltered
    );
}

#[test]
fn a_stand_in_keeps_what_was_right_and_defaults_the_rest() {
    // `dtype` is missing: the row's element type stands in, and the signature is the real one.
    let Err(invalid) = validate(
        quote!(dim = 3),
        quote!(
            fn f(x: &X) -> Result<Option<[u8; 3]>, E> {}
        ),
    ) else {
        panic!("invalid");
    };
    assert_eq!(invalid.errors.len(), 1);
    let spec = invalid.stand_in.as_deref().expect("a stand-in");
    assert_eq!(spec.bodies, Bodies::Stub);
    assert_eq!(spec.dtype.name(), "u8");
    assert_eq!(spec.policy, Policy::FallibleFiltered);
    assert!(matches!(spec.shape.as_slice(), [Extent::Literal(3, _)]));
    assert_eq!(crate::errors::shown(&spec.sig.function.item_ty), "&X");

    // A wrong `dim` and `crate`: the row's shape and `::preallocate` stand in.
    let Err(invalid) = validate(
        quote!(dim = 0, dtype = f32, crate = "not a path"),
        quote!(
            fn f(x: &X) -> [[f32; 4]; N] {}
        ),
    ) else {
        panic!("invalid");
    };
    let spec = invalid.stand_in.as_deref().expect("a stand-in");
    assert!(matches!(
        spec.shape.as_slice(),
        [Extent::Const(_), Extent::Literal(4, _)]
    ));
    assert!(matches!(spec.krate, Krate::Absolute(_)));

    // A const parameter of the function cannot be named by the module: one element stands in.
    let Err(invalid) = validate(
        quote!(dtype = f32),
        quote!(
            fn f<const N: usize>(x: &[f32; N]) -> [f32; N] {}
        ),
    ) else {
        panic!("invalid");
    };
    assert!(matches!(
        invalid
            .stand_in
            .as_deref()
            .expect("a stand-in")
            .shape
            .as_slice(),
        [Extent::Literal(1, _)]
    ));
}

#[test]
fn a_stand_in_for_an_unreadable_signature_takes_any_item() {
    let Err(invalid) = validate(
        quote!(shape = (2, 2), dtype = u8, cast = "nope"),
        quote!(
            fn f(&self) -> [u8; 4] {}
        ),
    ) else {
        panic!("invalid");
    };
    assert_eq!(invalid.errors.len(), 2, "{:?}", invalid.errors.messages());
    let spec = invalid.stand_in.as_deref().expect("a stand-in");
    assert_eq!(spec.sig.function.owner, Owner::Method(Receiver::Shared));
    assert_eq!(spec.policy, Policy::Plain);
    assert_eq!(spec.cast, Cast::Lossless);
    assert_eq!(spec.rank(), 2);
    assert_eq!(
        crate::errors::shown(&spec.sig.function.item_ty),
        "__PreallocateItem"
    );
}

/// Whether `tokens` declares `fn name` or `const NAME` / `type NAME`.
fn declares(out: &str, what: &str) -> bool {
    out.contains(&format!("{what} <"))
        || out.contains(&format!("{what} ("))
        || out.contains(&format!("{what} :"))
        || out.contains(&format!("{what} ="))
}

#[test]
fn a_fallback_method_has_every_sibling_and_calls_nothing() {
    let out = crate::expand::expand(
        quote!(dim = 2, dtype = f32, cast = "rounded"),
        quote!(
            fn scale(&self, x: &f32) -> [f32; 2] {
                [*x, *x]
            }
        ),
    )
    .to_string();
    assert!(out.contains("compile_error"));
    for name in [
        "fn scale_batch",
        "fn scale_fill",
        "fn scale_pipeline",
        "const SCALE_DIM",
        "const SCALE_SHAPE",
    ] {
        assert!(declares(&out, name), "{name} in {out}");
    }
    assert!(
        !out.contains("self . scale ("),
        "a stub calls nothing: {out}"
    );
}

#[test]
fn a_fallback_module_has_every_item_and_calls_nothing() {
    let out = crate::expand::expand(
        quote!(dim = 3, dtype = f23),
        quote!(
            fn featurize(p: &Point) -> [f32; 3] {
                [p.x, p.y, p.z]
            }
        ),
    )
    .to_string();
    assert!(out.contains("fn featurize (p : & Point)"));
    assert!(out.contains("compile_error"));
    assert!(out.contains("mod featurize"));
    for name in [
        "fn batch",
        "fn fill",
        "fn pipeline",
        "const DIM",
        "const SHAPE",
        "type Dtype",
    ] {
        assert!(declares(&out, name), "{name} in {out}");
    }
    assert!(!out.contains("featurize (__preallocate_item"), "{out}");
    assert!(!out.contains("__private :: store"), "{out}");
}

#[test]
fn a_relative_crate_path_is_imported_where_the_attribute_is() {
    let out = crate::expand::expand(
        quote!(dim = 1, dtype = f32, crate = pa),
        quote!(
            fn f(x: &f32) -> [f32; 1] {
                [*x]
            }
        ),
    )
    .to_string();
    assert!(out.contains("use pa as __preallocate_crate_f ;"), "{out}");
    assert!(out.contains("use super :: __preallocate_crate_f as __preallocate_crate ;"));
    assert!(out.contains("__preallocate_crate :: __private :: batch"));
    assert!(out.contains("impl pa :: __private :: RowSpec for f :: Row"));

    for absolute in [quote!(::pa), quote!(crate::reexport)] {
        let out = crate::expand::expand(
            quote!(dim = 1, dtype = f32, crate = #absolute),
            quote!(
                fn f(x: &f32) -> [f32; 1] {
                    [*x]
                }
            ),
        )
        .to_string();
        assert!(!out.contains("__preallocate_crate"), "{out}");
    }
}

#[test]
fn parallel_siblings_are_emitted_behind_the_facade_s_feature() {
    let free = crate::expand::expand(
        quote!(dim = 1, dtype = f32),
        quote!(
            fn f(x: &f32) -> [f32; 1] {
                [*x]
            }
        ),
    )
    .to_string();
    assert!(free.contains("if_parallel !"));
    assert!(free.contains("fn par_batch < I >"));
    assert!(free.contains("fn par_fill < 'out , I , O >"));

    let shared = crate::expand::expand(
        quote!(dim = 1, dtype = f32),
        quote!(
            fn m(&self, x: &f32) -> [f32; 1] {
                [*x]
            }
        ),
    )
    .to_string();
    assert!(shared.contains("fn m_par_batch"));
    assert!(shared.contains("fn m_par_fill"));
    assert!(!shared.contains("MutSelfHasNoParallelSiblings"));

    // `&mut self`: the names exist only to say why there is no parallel sibling.
    let mutable = crate::expand::expand(
        quote!(dim = 1, dtype = f32),
        quote!(
            fn m(&mut self, x: &f32) -> [f32; 1] {
                [*x]
            }
        ),
    )
    .to_string();
    assert!(mutable.contains("fn m_par_batch"));
    assert!(mutable.contains("MutSelfHasNoParallelSiblings"));
    assert!(!mutable.contains("par_batch (&"));
}

#[test]
fn a_misspelled_key_is_suggested_and_not_also_missing() {
    let (args, errors) = parse_attr(quote!(dim = 3, dytpe = f32));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("(did you mean `dtype`?)"), "{errors:?}");
    assert_eq!(args.suggested, ["dtype"]);
    let invalid = validate(
        quote!(dim = 3, dytpe = f32),
        quote!(
            fn f(x: &f32) -> [f32; 3] {
                [*x; 3]
            }
        ),
    )
    .err()
    .expect("an error");
    assert_eq!(invalid.errors.len(), 1, "{:?}", invalid.errors.messages());
    assert_eq!(attr::edit_distance("dytpe", "dtype"), 1);
    assert_eq!(attr::edit_distance("shpae", "shape"), 1);
    let (_, errors) = parse_attr(quote!(dimm = 3, dtype = f32));
    assert!(errors[0].contains("(did you mean `dim`?)"), "{errors:?}");
    let (_, errors) = parse_attr(quote!(colour = 3, dim = 3, dtype = f32));
    assert!(!errors[0].contains("did you mean"), "{errors:?}");
}

#[test]
fn python_dtypes_are_one_error_with_the_rust_name() {
    for (written, meant) in [
        (quote!(np.float32), "f32"),
        (quote!(np.uint8), "u8"),
        (quote!(numpy.float64), "f64"),
        (quote!(torch.float16), "f16"),
        (quote!(torch.bfloat16), "bf16"),
        (quote!(jnp.int32), "i32"),
        (quote!(np.float_), "f64"),
        (quote!(np.dtype("int16")), "i16"),
    ] {
        let (args, errors) = parse_attr(quote!(dim = 3, dtype = #written, cast = "as"));
        assert_eq!(errors.len(), 1, "{written}: {errors:?}");
        assert!(
            errors[0].contains(&format!("did you mean `{meant}`?")),
            "{written}: {errors:?}"
        );
        assert!(args.seen("cast"), "the keys after it are read");
    }
    let (_, errors) = parse_attr(quote!(dim = 3, dtype = "float32"));
    assert_eq!(
        errors,
        ["`dtype` takes a type, not a string: write `dtype = f32` without quotes"]
    );
}

#[test]
fn a_second_by_value_parameter_is_the_error() {
    let (sig, errors) = analyze(quote!(
        fn scaled(x: &f32, factor: f32) -> [f32; 1] {
            [*x * factor]
        }
    ));
    assert!(sig.is_none());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("a row function takes one item"),
        "{errors:?}"
    );
    assert!(errors[0].contains("self.factor"), "{errors:?}");
}

#[test]
fn a_const_parameter_cannot_size_the_row() {
    let func = quote!(
        fn doubled<const N: usize>(x: &[f32; N]) -> [f32; N] {
            *x
        }
    );
    let invalid = validate(quote!(dim = N, dtype = f32), func)
        .err()
        .expect("an error");
    let messages = invalid.errors.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].starts_with("`dim = N` names a const parameter of `doubled`"));
    // The stand-in does not name `N` outside the function.
    assert!(matches!(
        invalid
            .stand_in
            .as_deref()
            .expect("a stand-in")
            .shape
            .as_slice(),
        [Extent::Literal(1, _)]
    ));
}

/// The model and the checked spec of a `#[derive(Rows)]` struct, or its errors.
fn derive_spec(item: TokenStream) -> Result<crate::spec::DeriveSpec, Vec<String>> {
    let input: syn::DeriveInput = syn::parse2(item).expect("a struct");
    let mut errors = Errors::default();
    let Some(model) = model::read_struct(&input, &mut errors) else {
        return Err(errors.messages());
    };
    crate::valid::validate_derive(model, errors).map_err(|invalid| invalid.errors.messages())
}

#[test]
fn a_field_s_keys_mean_what_the_attribute_s_do() {
    let spec = derive_spec(quote! {
        #[rows(crate = pa)]
        struct Sample {
            #[rows(dtype = f16, cast = "as")]
            #[rows(shape = (2, SIDE))]
            pixels: [f32; 2 * SIDE],
            class: [u8; 1],
        }
    })
    .expect("valid");
    let [pixels, class] = spec.outputs.as_slice() else {
        panic!("two outputs");
    };
    assert!(matches!(pixels.dtype, Storage::Dtype(d, _) if d.name() == "f16"));
    assert_eq!(pixels.cast, Cast::As);
    assert!(matches!(
        &pixels.shape,
        OutputShape::Axes(axes) if matches!(axes.as_slice(), [Extent::Literal(2, _), Extent::Const(_)])
    ));
    assert!(matches!(class.dtype, Storage::Elem));
    assert_eq!(class.cast, Cast::Lossless);
    assert!(matches!(class.shape, OutputShape::Flat));
    assert!(matches!(spec.krate, Krate::Relative(_)));
    assert_eq!(spec.policy, Policy::Plain);
}

#[test]
fn a_checked_field_makes_the_struct_s_store_fallible() {
    let spec = derive_spec(quote! {
        struct Checked {
            #[rows(dtype = u8, cast = "checked")]
            x: [f32; 2],
        }
    })
    .expect("valid");
    assert_eq!(spec.policy, Policy::Fallible);
    let out = crate::expand::derive(quote! {
        struct Checked {
            #[rows(dtype = u8, cast = "checked")]
            x: [f32; 2],
        }
    })
    .to_string();
    assert!(out.contains("type Checks = :: preallocate :: __private :: WithChecks"));
    assert!(out.contains("struct CheckedArrays"));
}

#[test]
fn a_repeated_field_key_is_an_error_on_the_second() {
    let errors = derive_spec(quote! {
        struct Twice {
            #[rows(dtype = f32, cast = "as")]
            #[rows(dtype = f64)]
            x: [f32; 1],
        }
    })
    .err()
    .expect("an error");
    assert_eq!(errors, ["`dtype` may only be specified once"]);
}

#[test]
fn an_unknown_field_key_lists_the_valid_ones() {
    let errors = derive_spec(quote! {
        struct Keys {
            #[rows(dim = 3, type = f16, dtpye = f16)]
            x: [f32; 3],
        }
    })
    .err()
    .expect("errors");
    let listed = "the keys of a field are `dtype`, `cast`, `shape`";
    assert_eq!(
        errors,
        [
            format!("unknown key `dim` in #[rows]; {listed}"),
            format!("unknown key `type` in #[rows] (did you mean `dtype`?); {listed}"),
            format!("unknown key `dtpye` in #[rows] (did you mean `dtype`?); {listed}"),
        ]
    );
}

#[test]
fn a_field_s_values_are_checked_as_the_attribute_s() {
    let errors = derive_spec(quote! {
        struct Values {
            #[rows(dtype = "f16", cast = "wrapping", shape = (0, 3))]
            x: [f32; 3],
        }
    })
    .err()
    .expect("errors");
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with("`dtype` takes a type, not a string: write `dtype = f16`"));
    assert!(errors[1].starts_with("unknown cast `\"wrapping\"`"));
    assert!(errors[2].starts_with("an axis of `shape` is 0"));
}

#[test]
fn the_struct_s_own_rows_attribute_takes_only_crate() {
    let errors = derive_spec(quote! {
        #[rows(dtype = f32)]
        struct Misplaced {
            x: [f32; 1],
        }
    })
    .err()
    .expect("an error");
    assert_eq!(
        errors,
        ["on the struct, #[rows] takes only `crate = path`; put `dtype`, `cast` and `shape` on a field"]
    );
}

fn validate_rows(
    attr: TokenStream,
    func: TokenStream,
) -> Result<crate::spec::RowsSpec, crate::valid::Invalid<crate::spec::RowsSpec>> {
    let func: syn::ItemFn = syn::parse2(func).expect("a function");
    let mut errors = Errors::default();
    let args = attr::parse(attr, &mut errors);
    assert_eq!(args.place, attr::Place::RowsFunction);
    let function = model::analyze_rows(&func, &mut errors);
    crate::valid::validate_rows(&args, function, &func, errors)
}

#[test]
fn a_row_function_with_several_outputs_gets_its_policy_where_every_function_does() {
    let skip = validate_rows(
        quote!(rows = Pair, on_error = "skip"),
        quote!(
            fn f(x: &str) -> Result<Option<Pair>, E> {}
        ),
    )
    .ok()
    .expect("valid");
    assert_eq!(skip.policy, Policy::Skipping);
    assert_eq!(skip.function.form, Form::ByValue);
    let in_place = validate_rows(
        quote!(rows = Pair),
        quote!(
            fn f(&mut self, x: &str, row: PairRow<'_>) -> bool {}
        ),
    )
    .ok()
    .expect("valid");
    assert_eq!(in_place.policy, Policy::Filtered);
    assert_eq!(in_place.function.form, Form::InPlace);
    assert_eq!(in_place.function.owner, Owner::Method(Receiver::Mutable));
}

#[test]
fn keys_of_one_output_next_to_rows_say_where_they_go() {
    let invalid = validate_rows(
        quote!(dtype = f32, rows = Pair, size = 3),
        quote!(
            fn f(x: &str) -> Pair {}
        ),
    )
    .err()
    .expect("errors");
    let errors = invalid.errors.messages();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("with `rows = ..`, each output's `dtype`"));
    assert_eq!(
        errors[1],
        "unknown key `size` in #[preallocate(rows = ..)]; the valid keys are `rows`, `on_error`, `crate`"
    );
    // The companions are still there, with stub bodies.
    let stand_in = invalid.stand_in.as_deref().expect("a stand-in");
    assert_eq!(stand_in.bodies, Bodies::Stub);
}

#[test]
fn a_rows_signature_the_macro_cannot_use_gets_a_stand_in_over_any_item() {
    let invalid = validate_rows(
        quote!(rows = Pair),
        quote!(
            async fn f(self, x: &str) -> Pair {}
        ),
    )
    .err()
    .expect("errors");
    let errors = invalid.errors.messages();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("`async fn`"));
    assert!(errors[1].starts_with("a row method takes `&self` or `&mut self`"));
    let stand_in = invalid.stand_in.as_deref().expect("a stand-in");
    assert_eq!(
        crate::errors::shown(&stand_in.function.item_ty),
        "__PreallocateItem"
    );
}

#[test]
fn a_relative_crate_path_reaches_a_rows_module_through_an_import() {
    let out = crate::expand::expand(
        quote!(rows = Pair, crate = pa),
        quote!(
            fn f(x: &str) -> Pair {
                Pair::default()
            }
        ),
    )
    .to_string();
    assert!(out.contains("use pa as __preallocate_crate_f"));
    assert!(out.contains("use super :: __preallocate_crate_f as __preallocate_crate"));
    assert!(out.contains("impl pa :: __private :: RowsSpec for f :: Row"));
}
