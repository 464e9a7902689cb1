"""The rules' configuration schema, its defaults (API.md) and validation that names the bad key."""

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from apps.common.errors import DomainError, ErrorCode

MAX_DAILY_PAUSE_SECONDS = 12 * 3600  # below the shortest (23 h) day, so a pause always ends
# The tz database names a region zone AREA/LOCATION, AREA a continent or an ocean. Anything else is an alias: of the
# host (`localtime`, `posixrules`, `posix/...`), of nothing (`Factory`), or a legacy or fixed-offset name.
REGION_AREAS = frozenset(
    {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TicketXpConfig(_Frozen):
    base_divisor: Annotated[int, Field(ge=1, le=10_000)] = 20
    first_pass_bonus: Annotated[int, Field(ge=0, le=10_000)] = 1
    qc_status_update_xp: Annotated[int, Field(ge=0, le=10_000)] = 1
    flag_green_max_minutes: Annotated[int, Field(ge=0, le=10_080)] = 30
    flag_yellow_max_minutes: Annotated[int, Field(ge=0, le=10_080)] = 60

    @model_validator(mode="after")
    def _yellow_after_green(self):
        if self.flag_yellow_max_minutes < self.flag_green_max_minutes:
            raise ValueError("flag_yellow_max_minutes must be >= flag_green_max_minutes")
        return self


class WorkSessionConfig(_Frozen):
    daily_pause_limit_seconds: Annotated[int, Field(ge=0, le=MAX_DAILY_PAUSE_SECONDS)] = 1800
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str, info: ValidationInfo) -> str:
        if value not in _zone_names():
            raise ValueError(f"unknown time zone {value!r}")
        # Only a submitted config: a stored version is history, read back as it was accepted.
        if (info.context or {}).get("submitted") and not is_region_zone(value):
            raise ValueError(f"time zone {value!r} is not UTC or a region zone of the tz database (Area/Location)")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class PolicyConfig(_Frozen):
    """Whether one person may check their own work: QC a ticket they work on, approve a ticket they opened."""

    allow_self_qc: bool = False
    allow_self_approval: bool = False


class RulesConfig(_Frozen):
    ticket_xp: TicketXpConfig = TicketXpConfig()
    work_session: WorkSessionConfig = WorkSessionConfig()
    policy: PolicyConfig = PolicyConfig()


DEFAULT_CONFIG: dict[str, Any] = RulesConfig().model_dump()


def _zone_names() -> set[str]:
    if not hasattr(_zone_names, "cache"):
        names = set(available_timezones()) | {"UTC"}
        _zone_names.cache = {n for n in names if _loads(n)}
    return _zone_names.cache


def is_region_zone(name: str) -> bool:
    area, slash, _location = name.partition("/")
    return name == "UTC" or (bool(slash) and area in REGION_AREAS and name in _zone_names())


def _loads(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def validation_errors(exc: ValidationError, prefix: tuple = ()) -> list[dict[str, Any]]:
    return [{"loc": [*prefix, *err["loc"]], "msg": err["msg"]} for err in exc.errors(include_url=False)]


class InvalidRulesConfig(DomainError):
    def __init__(self, errors: list[dict[str, Any]]):
        names = ", ".join(".".join(str(p) for p in e["loc"][1:] or e["loc"]) + f": {e['msg']}" for e in errors)
        super().__init__(ErrorCode.VALIDATION_ERROR, f"invalid rules config: {names}")
        self.errors = errors


def parse_config(raw: Any) -> RulesConfig:
    """Validate a submitted config; missing keys take their defaults. Raises InvalidRulesConfig."""
    try:
        return RulesConfig.model_validate(raw, context={"submitted": True})
    except ValidationError as exc:
        raise InvalidRulesConfig(validation_errors(exc, prefix=("config",))) from exc
