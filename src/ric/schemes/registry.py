"""The scheme registry (timm's pattern): each scheme is one SchemeSpec registered under its name. The spec says how
the scheme is built, which command-line options are its own, whether it needs a RIC model, which scheme instance
decrypts a ciphertext of it, and how the service checks an upload of it. Code outside ric.schemes builds schemes
here and asks the spec (or the scheme, ric.schemes.base.Scheme) instead of comparing scheme names.

    register_scheme(spec)                              add a scheme: a third one is one folder and this one call
    scheme_names()                                     the registered names, the default first
    scheme_spec(name)                                  its SchemeSpec (UnknownSchemeError lists the known names)
    build_scheme(name, classifier, model=None, device="cpu", **options)
                                                       a scheme ready to encrypt; classifier and model are
                                                       ric.hub.Loaded or a name/path ric.hub loads
    choose_scheme(args)                                `--scheme`, else the scheme whose own options are given
    build_from_args(args, classifier, model, device, **options)
                                                       the scheme that `ric encrypt`'s options describe

Options every scheme takes (`build_scheme` keywords): margin, batch_size, starts ("auto" | None | ClassStarts),
nonce_source (a callable returning fresh nonces) and seed (an int: nonces and every other draw of encryption
derived from it, ric.keys.seeded_nonces: reproducible, never for real encryption). The rest belong to one scheme
(SchemeSpec.options name its command-line ones).

No torch import here nor in the specs: listing schemes and their options stays cheap; a spec imports its scheme
when it builds one.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from ..errors import RICError, UnknownSchemeError
from ..formats import DEFAULT_SCHEME, FORMATS, SCHEMES

BUILTIN = ("ric.schemes.sealed.spec", "ric.schemes.paper.spec")     # importing each registers its scheme
_SPECS: dict = {}


@dataclass(frozen=True)
class SchemeOption:
    """A command-line option: `dest` (argparse's attribute), `flag`, and `to_build` (its value -> build_scheme
    keywords; None when the option is no keyword, e.g. --model, which names the RIC model to load)."""
    dest: str
    flag: str
    to_build: Callable[[object], dict] | None = None

    def given(self, args) -> bool:
        return getattr(args, self.dest, None) not in (None, False)

    def build_kwargs(self, args) -> dict:
        return {} if self.to_build is None else self.to_build(getattr(args, self.dest, None))


SHARED_OPTIONS = (     # the command-line options of every scheme
    SchemeOption("margin", "--margin", lambda v: {"margin": v}),
    SchemeOption("batch_size", "--batch-size", lambda v: {} if v is None else {"batch_size": int(v)}),
)


@dataclass(frozen=True)
class SchemeSpec:
    """What the rest of RIC knows of a scheme.

    build(classifier, model, device, **options) -> Scheme     ready to encrypt (model None unless needs_model)
    models_of(parsed, model, classifier) -> tuple             what decrypting a parsed ciphertext needs loaded,
                                                              hashable (() when nothing): `model`/`classifier`
                                                              are the user's choices (None: the file's own)
    decryptor(models, device, **settings) -> Scheme           decrypts what models_of named; settings:
                                                              regenerate, batch_size, allow_stripped (each scheme
                                                              takes what applies to it)
    check_upload(pixels, header, classifier_identity) -> dict the public metadata the service stores for an upload
                                                              (no key); raises ric.errors.UploadRefused
    is_current(key, parsed) -> bool                           a ciphertext of this scheme under `key`, in the
                                                              format RIC writes (`ric reencrypt --resume`)
    needs_model   encryption needs a RIC model besides the classifier
    lossless      decryption gives the input back bit for bit
    options       the command-line options that belong to this scheme alone (SchemeOption)"""
    name: str
    build: Callable
    models_of: Callable
    decryptor: Callable
    check_upload: Callable
    is_current: Callable
    needs_model: bool = False
    lossless: bool = False
    options: tuple = ()

    @property
    def written_format(self) -> str | None:
        """The name of the format this version writes for the scheme (ric.formats), None when the table has none."""
        return next((f.name for f in FORMATS if f.scheme == self.name and f.written), None)

    def options_given(self, args) -> list[str]:
        """The flags of this scheme's own options that `args` sets."""
        return [o.flag for o in self.options if o.given(args)]

    def build_kwargs(self, args) -> dict:
        """build_scheme keywords from parsed command-line options: the shared ones and this scheme's own."""
        out: dict = {}
        for o in (*SHARED_OPTIONS, *self.options):
            out.update(o.build_kwargs(args))
        return out


def _builtin() -> None:
    for module in BUILTIN:
        importlib.import_module(module)


def register_scheme(spec: SchemeSpec) -> SchemeSpec:
    """Register `spec` under spec.name (a name registered twice is a ValueError); returns it."""
    if spec.name in _SPECS:
        raise ValueError(f"scheme {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    return spec


def unregister_scheme(name: str) -> None:
    """Remove a registered scheme (a plug-in's, or a test's); built-in ones come back on the next lookup."""
    _SPECS.pop(name, None)


def scheme_names() -> list[str]:
    """The registered scheme names: the default (ric.formats.DEFAULT_SCHEME) first, the other built-in ones
    (ric.formats.SCHEMES), then the rest in registration order."""
    _builtin()
    return sorted(_SPECS, key=lambda n: (n != DEFAULT_SCHEME, n not in SCHEMES))


def scheme_spec(name: str) -> SchemeSpec:
    _builtin()
    if name not in _SPECS:
        raise UnknownSchemeError(f"unknown scheme {name!r} (known: {', '.join(scheme_names())})")
    return _SPECS[name]


def build_scheme(name: str, classifier, model=None, device="cpu", **options):
    """The scheme `name` ready to encrypt for `classifier` (and RIC `model` where the scheme needs one), each a
    ric.hub.Loaded or a name/path that ric.hub loads on `device`; `options` as the module docstring says."""
    spec = scheme_spec(name)
    if spec.needs_model and model is None:
        raise ValueError(f"the {name} scheme needs a RIC model")
    if not spec.needs_model and model is not None:
        raise ValueError(f"the {name} scheme takes no RIC model")
    if isinstance(classifier, str):
        from ..hub import load_classifier
        classifier = load_classifier(classifier, device)
    if isinstance(model, str):
        from ..hub import load_ric_model
        model = load_ric_model(model, device)
    return spec.build(classifier, model, device, **options)


def choose_scheme(args) -> str:
    """The scheme to write, stored in args.scheme: `--scheme` when given, else the scheme whose own options are
    given, else the default. Options of another scheme than the chosen one are refused (RICError, exit 2), never
    ignored silently."""
    given = {n: scheme_spec(n).options_given(args) for n in scheme_names()}
    chosen = getattr(args, "scheme", None)
    if chosen is None:
        named = [n for n, flags in given.items() if flags]
        if len(named) > 1:
            raise RICError(f"{', '.join(f for n in named for f in given[n])} are options of different schemes "
                           f"({', '.join(named)}); pass the ones of one scheme")
        chosen = named[0] if named else DEFAULT_SCHEME
    spec = scheme_spec(chosen)
    for other, flags in given.items():
        if other != chosen and flags:
            uses = "--model and --classifier" if spec.needs_model else "only --classifier"
            raise RICError(f"{', '.join(flags)} {'is an option' if len(flags) == 1 else 'are options'} of the "
                           f"{other} scheme, not of --scheme {chosen} (which uses {uses})")
    args.scheme = chosen
    return chosen


def build_from_args(args, classifier, model=None, device="cpu", **options):
    """The scheme `ric encrypt` builds from its parsed options `args` (choose_scheme first), for the loaded
    `classifier` and `model` (None unless the scheme needs one); `options` add to or override the command line's
    (e.g. nonce_source or seed, to make encryption reproducible)."""
    spec = scheme_spec(choose_scheme(args))
    return build_scheme(spec.name, classifier, model, device, **{**spec.build_kwargs(args), **options})
