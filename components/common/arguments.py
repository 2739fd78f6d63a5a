"""One declaration per parameter, in the style of `run_mlm.py`'s argument dataclasses.

A stage declares its parameters once, as a dataclass (a subclass of `Arguments`) whose fields
are `arg(default, help, low=…, high=…, choices=…)`: name, type (the annotation), default, help
and valid range, written once. Everything else reads them from there:
- `Cls.parser(prog, description)`: the CLI's argparse (`--name value` and `--name=value`;
  booleans take the users' `True`/`False`; defaults shown in `--help`);
- constructing an instance checks every range and choice, so the stage's library function,
  which takes one instance, refuses a bad value in one line naming the flag, whoever calls it;
- `Cls.params(names)`: `Param`s (name, type, default, help) for a KFP component's signature
  (`common/kfp_component.py`) and the pipeline's run parameters (`pipeline/parameters.py`).
A field that another stage also takes is copied with `same_as`, never written twice.
"""

import dataclasses
import types
import typing

from components.common.cli import ArgumentParser, check_range, str2bool, with_raw_epilog
from components.common.errors import UserError

REQUIRED = dataclasses.MISSING


@dataclasses.dataclass(frozen=True)
class Param:
    """A parameter as a pipeline or a KFP component declares it."""
    name: str
    type: type
    default: object
    help: str


def arg(default=REQUIRED, help="", *, low=None, high=None, low_open=False, high_open=False,
        choices=None, nargs=None, action=None, metavar=None, group=None):
    """A declared field: its default (REQUIRED for none), help, valid range and choices; nargs,
    action, metavar and group (a heading in --help) shape its command-line flag."""
    metadata = {"help": help, "low": low, "high": high, "low_open": low_open,
                "high_open": high_open, "choices": choices, "nargs": nargs, "action": action,
                "metavar": metavar, "group": group}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def same_as(cls, name):
    """The field `name` of the declaration `cls`, for another declaration that takes it too."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    # Its help heading belongs to the other declaration's --help.
    metadata = {**field.metadata, "group": None}
    if field.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=field.default_factory, metadata=metadata)
    return dataclasses.field(default=field.default, metadata=metadata)


def _base_type(annotation):
    """int for `int`, `int | None`; str for `list[str]`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    return annotation


@dataclasses.dataclass
class Arguments:
    """Base of a stage's declaration. Subclasses may add `check()` for rules between fields."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value, meta = getattr(self, field.name), field.metadata
            if value is None:
                continue
            if meta.get("choices") and value not in meta["choices"]:
                raise UserError(f"--{field.name}={value} is not one of "
                                f"{', '.join(map(str, meta['choices']))}",
                                where=f"--{field.name}", fix="pick one of them")
            if meta.get("low") is not None or meta.get("high") is not None:
                check_range(field.name, value, meta["low"], meta["high"], meta["low_open"],
                            meta["high_open"])
        self.check()

    def check(self):
        """Rules between fields (one `UserError` each); none by default."""

    @classmethod
    def fields(cls):
        """[(field, base type)] in declaration order."""
        hints = typing.get_type_hints(cls)
        return [(f, _base_type(hints[f.name])) for f in dataclasses.fields(cls)]

    @classmethod
    def parser(cls, prog, description, epilog=None):
        parser = ArgumentParser(prog=prog, description=description, epilog=epilog)
        cls.add_arguments(parser)
        return parser

    @classmethod
    def parser_from_doc(cls, prog, doc):
        """The parser of a CLI module: its docstring's first paragraph is the description, the
        rest the epilog, printed as written."""
        description, *rest = doc.split("\n\n")
        parser = cls.parser(prog, description, epilog="\n\n".join(rest))
        parser.formatter_class = with_raw_epilog(parser.formatter_class)
        return parser

    @classmethod
    def add_arguments(cls, parser):
        """One flag per field on `parser` (or a sub-command's parser)."""
        groups = {}
        for field, kind in cls.fields():
            meta = field.metadata
            options = {"help": meta["help"], "metavar": meta.get("metavar")}
            if field.default is REQUIRED and field.default_factory is REQUIRED:
                options["required"] = True
            elif field.default_factory is not REQUIRED:
                options["default"] = field.default_factory()
            else:
                options["default"] = field.default
            if kind is bool:
                # `--pack` alone means True; `--pack False` / `--pack=True` as the users write.
                options.update(type=str2bool, nargs="?", const=True)
            else:
                options["type"] = kind
            for key in ("nargs", "action", "choices"):
                if meta.get(key):
                    options[key] = meta[key]
            group = meta.get("group")
            if group and group not in groups:
                groups[group] = parser.add_argument_group(group)
            (groups[group] if group else parser).add_argument(f"--{field.name}", **options)

    @classmethod
    def from_namespace(cls, namespace):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in vars(namespace).items() if k in names})

    @classmethod
    def params(cls, names):
        """`Param`s of the fields `names` (for a component or the pipeline), in that order.

        KFP parameters cannot be None: an unset optional one is "" (str) or 0 (a number), and
        `unset_to_none` turns it back."""
        by_name = {f.name: (f, kind) for f, kind in cls.fields()}
        params = []
        for name in names:
            field, kind = by_name[name]
            default = kind() if field.default is None else field.default
            params.append(Param(name, kind, default, field.metadata["help"]))
        return params

    @classmethod
    def unset_to_none(cls, values):
        """`values` from KFP parameters with "" / 0 back to None for the optional fields."""
        optional = {f.name for f in dataclasses.fields(cls) if f.default is None}
        return {k: (None if k in optional and not v else v) for k, v in values.items()}

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

