"""Second-factor use cases: a TOTP authenticator, its recovery codes, and the second step of a
login. Codes are throttled like passwords (`AttemptCounter`), per user, counted before they
are checked; a TOTP code is accepted once (its time step must be later than the last one
accepted, as the write itself checks)."""

from dataclasses import dataclass

from application.authentication import LoginResult, StartSession
from application.messages import second_factor_changed
from application.ports import (
    Clock,
    MfaTokens,
    QrCodes,
    SecretBox,
    SecurityEvent,
    SecurityLog,
    TotpVerifier,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.throttling import AttemptCounter, PasswordCheck
from domain.errors import (
    InvalidCredentials,
    NotAuthenticated,
    SecondFactorAlreadyEnabled,
    UserNotFound,
    ValidationFailed,
)
from domain.second_factor import (
    CODE_MAX_LENGTH,
    TotpFactor,
    is_totp_code,
    new_recovery_codes,
    normalized_code,
    password_hash_digest,
    recovery_code_digest,
)
from domain.sessions import AMR_PASSWORD_AND_OTP
from domain.users import User


def _invalid_code(message: str = "is not valid") -> ValidationFailed:
    return ValidationFailed.for_field("code", message)


def _code_failures_key(user_id: int) -> str:
    """Where a user's failed codes are counted, whichever use case checks them."""
    return f"code-failures:{user_id}"


class CodeCheck:
    """Checks a code of a user whose second factor is on, inside the caller's unit of work:
    - counted per user before it is checked, refused over the limit (429), cleared by success;
    - a 6-digit code is a TOTP code, accepted for one step of drift either way, once: its
      step is stored by a conditional write, so a replay, even a concurrent one, fails;
    - anything else is a recovery code where the caller allows one, used up by a conditional
      write;
    - a secret sealed under an old key is sealed again under the newest."""

    def __init__(
        self,
        attempts: AttemptCounter,
        totp: TotpVerifier,
        secret_box: SecretBox,
        clock: Clock,
    ) -> None:
        self._attempts = attempts
        self._totp = totp
        self._secret_box = secret_box
        self._clock = clock

    async def __call__(
        self, uow: UnitOfWork, user_id: int, code: str, *, recovery: bool, ip: str | None
    ) -> bool:
        """Whether the code was accepted (and its use recorded); False for a wrong, replayed
        or used code, or a user without the factor on."""
        normalized = normalized_code(code)
        if not normalized or len(code) > CODE_MAX_LENGTH:
            raise _invalid_code("must be a 6-digit code or a recovery code")
        key = _code_failures_key(user_id)
        await self._attempts.count(key, ip=ip, user_id=user_id)
        factor = await uow.second_factor.get(user_id)
        if factor is None or not factor.enabled:
            return False
        if is_totp_code(normalized):
            accepted = await self._accept_totp(uow, factor, normalized)
        elif recovery:
            digest = recovery_code_digest(normalized)
            accepted = await uow.second_factor.use_recovery_code(user_id, digest)
        else:
            accepted = False
        if accepted:
            await self._attempts.clear(key)
        return accepted

    async def _accept_totp(self, uow: UnitOfWork, factor: TotpFactor, code: str) -> bool:
        assert factor.secret is not None  # an enabled factor has one
        opened = self._secret_box.decrypt(factor.secret)
        step = self._totp.verify(opened.plaintext, code, self._clock.now())
        if step is None or not factor.fresh(step):
            return False
        if not await uow.second_factor.accept_step(factor.user_id, step):
            return False
        if opened.stale:
            await uow.second_factor.replace_secret(
                factor.user_id,
                old=factor.secret,
                new=self._secret_box.encrypt(opened.plaintext),
            )
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class SecondFactorStatus:
    totp: bool
    recovery_codes_left: int


class GetSecondFactorStatus:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, user: User) -> SecondFactorStatus:
        if not user.mfa_enabled:
            return SecondFactorStatus(totp=False, recovery_codes_left=0)
        async with self._uow() as uow:
            left = await uow.second_factor.count_recovery_codes(user.id)
        return SecondFactorStatus(totp=True, recovery_codes_left=left)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetUpTotpCommand:
    user: User
    password: str
    ip: str | None = None
    device_token: str | None = None

    def __repr__(self) -> str:
        return f"SetUpTotpCommand(user_id={self.user.id}, ip={self.ip!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpSetup:
    secret: str
    otpauth_uri: str
    qr_svg: str

    def __repr__(self) -> str:
        return "TotpSetup(...)"


class SetUpTotp:
    """- needs the password again (re-authentication, ASVS 7.5.1), checked by PasswordCheck;
    - refused while the factor is on (turn it off first);
    - keeps a new secret as pending, sealed; a later setup replaces an unconfirmed one;
    - nothing changes for login until ConfirmTotp."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        password_check: PasswordCheck,
        totp: TotpVerifier,
        qr_codes: QrCodes,
        secret_box: SecretBox,
    ) -> None:
        self._uow = uow
        self._password_check = password_check
        self._totp = totp
        self._qr_codes = qr_codes
        self._secret_box = secret_box

    async def __call__(self, command: SetUpTotpCommand) -> TotpSetup:
        user = command.user
        if user.mfa_enabled:
            raise SecondFactorAlreadyEnabled
        await _check_password(
            self._password_check,
            user,
            command.password,
            device_token=command.device_token,
            ip=command.ip,
        )
        secret = self._totp.new_secret()
        async with self._uow() as uow:
            if not await uow.second_factor.set_pending(user.id, self._secret_box.encrypt(secret)):
                raise SecondFactorAlreadyEnabled
        uri = self._totp.provisioning_uri(secret, account=user.email.value)
        return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=self._qr_codes.svg(uri))


async def _check_password(
    password_check: PasswordCheck,
    user: User,
    password: str,
    *,
    device_token: str | None,
    ip: str | None,
) -> None:
    if not password:
        raise ValidationFailed.for_field("password", "must not be empty")
    if not await password_check.confirm(user, password, device_token=device_token, ip=ip):
        raise InvalidCredentials("Password is incorrect")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmTotpCommand:
    user: User
    code: str
    ip: str | None = None

    def __repr__(self) -> str:
        return f"ConfirmTotpCommand(user_id={self.user.id}, ip={self.ip!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryCodes:
    codes: list[str]

    def __repr__(self) -> str:
        return f"RecoveryCodes({len(self.codes)} codes)"


class ConfirmTotp:
    """- the code must come from the pending secret (the app was set up right); it is counted
      like any code;
    - then, at once: the factor is on, its secret sealed under the newest key, that code's
      step the last accepted, a new set of recovery codes stored (only their digests) and
      returned, shown this once, and a notice queued."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        attempts: AttemptCounter,
        totp: TotpVerifier,
        secret_box: SecretBox,
        clock: Clock,
        security_log: SecurityLog,
    ) -> None:
        self._uow = uow
        self._attempts = attempts
        self._totp = totp
        self._secret_box = secret_box
        self._clock = clock
        self._security_log = security_log

    async def __call__(self, command: ConfirmTotpCommand) -> RecoveryCodes:
        code = normalized_code(command.code)
        if not is_totp_code(code):
            raise _invalid_code("must be the 6-digit code the app shows")
        user = command.user
        key = _code_failures_key(user.id)
        async with self._uow() as uow:
            factor = await uow.second_factor.get(user.id)
            if factor is None or factor.pending_secret is None:
                raise _invalid_code("no setup is waiting for a code; start one first")
            await self._attempts.count(key, ip=command.ip, user_id=user.id)
            secret = self._secret_box.decrypt(factor.pending_secret).plaintext
            now = self._clock.now()
            step = self._totp.verify(secret, code, now)
            if step is None:
                raise _invalid_code()
            codes = new_recovery_codes()
            async with uow.transaction():
                if not await uow.second_factor.enable(
                    user.id,
                    pending_secret=factor.pending_secret,
                    secret=self._secret_box.encrypt(secret),
                    step=step,
                    now=now,
                ):
                    raise _invalid_code("the setup was replaced or confirmed meanwhile")
                await uow.second_factor.replace_recovery_codes(
                    user.id, [recovery_code_digest(code) for code in codes]
                )
                await uow.outbox.add(second_factor_changed(user, enabled=True, now=now), now=now)
        await self._attempts.clear(key)
        self._security_log.record(
            SecurityEvent(name="second_factor_enabled", user_id=user.id, ip=command.ip)
        )
        return RecoveryCodes(codes=codes)


@dataclass(frozen=True, slots=True, kw_only=True)
class DisableTotpCommand:
    user: User
    password: str
    code: str
    ip: str | None = None
    device_token: str | None = None

    def __repr__(self) -> str:
        return f"DisableTotpCommand(user_id={self.user.id}, ip={self.ip!r})"


class DisableTotp:
    """- needs the password and a code (a recovery code will do: the app may be what was lost);
    - deletes the secret and the recovery codes, and queues a notice."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        password_check: PasswordCheck,
        code_check: CodeCheck,
        clock: Clock,
        security_log: SecurityLog,
    ) -> None:
        self._uow = uow
        self._password_check = password_check
        self._code_check = code_check
        self._clock = clock
        self._security_log = security_log

    async def __call__(self, command: DisableTotpCommand) -> None:
        user = command.user
        if not user.mfa_enabled:
            raise _invalid_code("two-step verification is not on")
        await _check_password(
            self._password_check,
            user,
            command.password,
            device_token=command.device_token,
            ip=command.ip,
        )
        async with self._uow() as uow, uow.transaction():
            if not await self._code_check(uow, user.id, command.code, recovery=True, ip=command.ip):
                raise _invalid_code()
            await uow.second_factor.disable(user.id)
            now = self._clock.now()
            await uow.outbox.add(second_factor_changed(user, enabled=False, now=now), now=now)
        self._security_log.record(
            SecurityEvent(name="second_factor_disabled", user_id=user.id, ip=command.ip)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RegenerateRecoveryCodesCommand:
    user: User
    code: str
    ip: str | None = None

    def __repr__(self) -> str:
        return f"RegenerateRecoveryCodesCommand(user_id={self.user.id}, ip={self.ip!r})"


class RegenerateRecoveryCodes:
    """- needs a TOTP code, not a recovery code: one stolen recovery code must not be turned
      into ten;
    - the new set replaces the old one, which is void at once."""

    def __init__(self, uow: UnitOfWorkFactory, code_check: CodeCheck) -> None:
        self._uow = uow
        self._code_check = code_check

    async def __call__(self, command: RegenerateRecoveryCodesCommand) -> RecoveryCodes:
        user = command.user
        if not user.mfa_enabled:
            raise _invalid_code("two-step verification is not on")
        if not is_totp_code(normalized_code(command.code)):
            raise _invalid_code("must be the 6-digit code the app shows")
        codes = new_recovery_codes()
        async with self._uow() as uow, uow.transaction():
            if not await self._code_check(
                uow, user.id, command.code, recovery=False, ip=command.ip
            ):
                raise _invalid_code()
            await uow.second_factor.replace_recovery_codes(
                user.id, [recovery_code_digest(code) for code in codes]
            )
        return RecoveryCodes(codes=codes)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteMfaLoginCommand:
    mfa_token: str
    code: str
    user_agent: str | None = None
    ip: str | None = None

    def __repr__(self) -> str:
        return f"CompleteMfaLoginCommand(ip={self.ip!r})"


class CompleteMfaLogin:
    """The second step of a login, ending exactly as a login does (`StartSession`):
    - the token must be an unexpired `mfa` token; its login attempt is used up by a
      conditional write in the same transaction as the code, so of two completions with one
      token exactly one starts a session, and a wrong code leaves the attempt usable until
      it expires (or the code throttle stops it);
    - the attempt is void if the password changed since it was verified, or the second
      factor was turned off;
    - a TOTP code or a recovery code; the session records `amr` `pwd,otp`."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        mfa_tokens: MfaTokens,
        code_check: CodeCheck,
        start_session: StartSession,
        clock: Clock,
        security_log: SecurityLog,
    ) -> None:
        self._uow = uow
        self._mfa_tokens = mfa_tokens
        self._code_check = code_check
        self._start_session = start_session
        self._clock = clock
        self._security_log = security_log

    async def __call__(self, command: CompleteMfaLoginCommand) -> LoginResult:
        now = self._clock.now()
        claims = self._mfa_tokens.read(command.mfa_token, now)
        async with self._uow() as uow:
            user = await uow.users.get(claims.user_id)
            if user is None or not user.mfa_enabled:
                raise NotAuthenticated("Login attempt has ended; log in again")
            async with uow.transaction():
                if not await uow.mfa_challenges.consume(
                    claims.challenge_id,
                    user_id=user.id,
                    password_digest=password_hash_digest(user.password_hash.value),
                    now=now,
                ):
                    raise NotAuthenticated("Login attempt has ended; log in again")
                if not await self._code_check(
                    uow, user.id, command.code, recovery=True, ip=command.ip
                ):
                    self._security_log.record(
                        SecurityEvent(
                            name="login_failed",
                            user_id=user.id,
                            ip=command.ip,
                            reason="wrong second-factor code",
                        )
                    )
                    raise _invalid_code()
                return await self._start_session(
                    uow,
                    user,
                    now=now,
                    amr=AMR_PASSWORD_AND_OTP,
                    user_agent=command.user_agent,
                    ip=command.ip,
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetSecondFactorCommand:
    user_id: int
    reason: str = "reset by an administrator"


class ResetSecondFactor:
    """Turns a user's second factor off without a code, for a support desk that has checked
    who is asking: logged as a security event, and the owner is told by email."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, security_log: SecurityLog) -> None:
        self._uow = uow
        self._clock = clock
        self._security_log = security_log

    async def __call__(self, command: ResetSecondFactorCommand) -> bool:
        """Whether the factor was on."""
        async with self._uow() as uow:
            user = await uow.users.get(command.user_id)
            if user is None:
                raise UserNotFound
            async with uow.transaction():
                was_on = await uow.second_factor.disable(user.id)
                if was_on:
                    now = self._clock.now()
                    notice = second_factor_changed(user, enabled=False, now=now)
                    await uow.outbox.add(notice, now=now)
        if was_on:
            self._security_log.record(
                SecurityEvent(name="second_factor_reset", user_id=user.id, reason=command.reason)
            )
        return was_on
