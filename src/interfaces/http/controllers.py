"""Controllers: request structs in, commands to the use cases, envelopes out. Nothing else."""

import logging
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import CacheControlHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from application.accounts import (
    ChangePasswordCommand,
    DeleteAccountCommand,
    RegisterCommand,
    UpdateProfileCommand,
)
from application.addresses import (
    ConfirmEmailChangeCommand,
    RequestEmailChangeCommand,
    ResendVerificationCommand,
    VerifyEmailCommand,
)
from application.authentication import (
    LoginCommand,
    LoginResult,
    LogoutCommand,
    MfaRequired,
    RefreshCommand,
)
from application.ports import TokenPair
from application.recovery import (
    ForgotPasswordCommand,
    PendingReset,
    RequestPasswordReset,
    ResetPasswordCommand,
)
from application.second_factor import (
    CompleteMfaLoginCommand,
    ConfirmTotpCommand,
    DisableTotpCommand,
    RegenerateRecoveryCodesCommand,
    SetUpTotpCommand,
)
from application.sessions import ListSessionsQuery, RevokeSessionCommand
from domain.errors import NotAuthenticated
from domain.users import UNSET, Unset
from interfaces.http.auth import access_token_of, device_token_of, refresh_token_of, user_agent
from interfaces.http.guards import THROTTLED, client_ip
from interfaces.http.openapi import (
    ACCESS_OR_REFRESH_TOKEN,
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    DocumentedOperation,
    error_responses,
    example_body,
)
from interfaces.http.schemas import (
    ChangeEmailRequest,
    ChangePasswordRequest,
    CodeRequest,
    DisableTotpRequest,
    Envelope,
    ForgotPasswordRequest,
    LoginRequest,
    LoginView,
    MfaChallengeView,
    MfaLoginRequest,
    MfaStatusView,
    PasswordRequest,
    RecoveryCodesView,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    SessionView,
    TokenRequest,
    TokensView,
    TotpSetupView,
    UpdateProfileRequest,
    UserView,
)
from interfaces.http.wiring import Wiring, access_claims_of, authenticated, wiring

logger = logging.getLogger("authsvc.http")

NO_STORE = {"Cache-Control": "no-store"}
# For reads of a user's own data: no cache between the service and the browser may keep them.
NOT_STORED = CacheControlHeader(no_store=True)

RegisterBody = Annotated[
    RegisterRequest,
    example_body(
        "A new account",
        {"name": "Ada Lovelace", "email": "ada@example.com", "password": "analytical engine"},
    ),
]
LoginBody = Annotated[
    LoginRequest,
    example_body("Credentials", {"email": "ada@example.com", "password": "analytical engine"}),
]
RefreshBody = Annotated[
    RefreshRequest | None,
    example_body(
        "The refresh token, for clients that keep no cookies",
        {"refreshToken": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."},
    ),
]
UpdateProfileBody = Annotated[
    UpdateProfileRequest,
    example_body(
        "Any of the three fields; null clears bio or contact",
        {"bio": "First programmer", "contact": "+44 20 7946 0000"},
    ),
]
ChangePasswordBody = Annotated[
    ChangePasswordRequest,
    example_body(
        "The current password and the new one",
        {"currentPassword": "analytical engine", "newPassword": "difference engine no. 2"},
    ),
]
ForgotPasswordBody = Annotated[
    ForgotPasswordRequest,
    example_body("The account's email", {"email": "ada@example.com"}),
]
ResetPasswordBody = Annotated[
    ResetPasswordRequest,
    example_body(
        "The token of the reset link, and the new password",
        {
            "token": "Q2hvb3NlIGEgbmV3IHBhc3N3b3JkIHdpdGhpbiAzMG0",
            "newPassword": "difference engine no. 2",
        },
    ),
]
TokenBody = Annotated[
    TokenRequest,
    example_body(
        "The token of the mailed link", {"token": "Q29uZmlybSB0aGlzIGFkZHJlc3MgaW4gMjQgaG91cnM"}
    ),
]
ChangeEmailBody = Annotated[
    ChangeEmailRequest,
    example_body(
        "The current password and the new address",
        {"password": "analytical engine", "newEmail": "countess@example.com"},
    ),
]

PasswordBody = Annotated[
    PasswordRequest,
    example_body("The account's password, again", {"password": "analytical engine"}),
]
CodeBody = Annotated[
    CodeRequest, example_body("A code of the authenticator app", {"code": "123456"})
]
DisableTotpBody = Annotated[
    DisableTotpRequest,
    example_body(
        "The password and a code (a recovery code will do)",
        {"password": "analytical engine", "code": "123456"},
    ),
]
MfaLoginBody = Annotated[
    MfaLoginRequest,
    example_body(
        "The mfaToken of the login, and a code (or a recovery code)",
        {"mfaToken": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "code": "123456"},
    ),
]

T = TypeVar("T")


class UserController(Controller):
    path = "/users"
    tags = ("users",)

    @post(
        "/register",
        status_code=201,
        opt=THROTTLED,
        response_description="User registered",
        responses=error_responses(400, 403, 409, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def register(
        self, request: Request[Any, Any, Any], data: RegisterBody
    ) -> Envelope[UserView]:
        user = await wiring(request).use_cases.register_user(
            RegisterCommand(name=data.name, email=data.email, password=data.password)
        )
        return Envelope(201, UserView.of(user), "User registered successfully")

    @post(
        "/login",
        status_code=200,
        opt=THROTTLED,
        responses=error_responses(400, 401, 403, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: LoginBody,
    ) -> Response[Envelope[LoginView | MfaChallengeView]]:
        wired = wiring(request)
        result = await wired.use_cases.login(
            LoginCommand(
                email=data.email,
                password=data.password,
                user_agent=user_agent(request),
                ip=client_ip(request),
                device_token=device_token_of(request),
            )
        )
        if isinstance(result, MfaRequired):
            # No cookie and no session yet: the login goes on at /users/login/mfa.
            return Response(
                Envelope(200, MfaChallengeView(mfa_token=result.mfa_token), "Code required"),
                headers=NO_STORE,
            )
        return _login_response(result, wired)

    @post(
        "/login/mfa",
        status_code=200,
        opt=THROTTLED,
        responses=error_responses(400, 401, 403, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def login_mfa(
        self,
        request: Request[Any, Any, Any],
        data: MfaLoginBody,
    ) -> Response[Envelope[LoginView | MfaChallengeView]]:
        wired = wiring(request)
        result = await wired.use_cases.complete_mfa_login(
            CompleteMfaLoginCommand(
                mfa_token=data.mfa_token,
                code=data.code,
                user_agent=user_agent(request),
                ip=client_ip(request),
            )
        )
        return _login_response(result, wired)

    @post(
        "/refresh-token",
        status_code=200,
        opt=THROTTLED,
        security=REFRESH_TOKEN,
        responses=error_responses(400, 401, 403, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def refresh_token(
        self,
        request: Request[Any, Any, Any],
        data: RefreshBody = None,
    ) -> Response[Envelope[TokensView]]:
        token = refresh_token_of(request, data.refresh_token if data else None)
        if token is None:
            raise NotAuthenticated("Refresh token required")
        wired = wiring(request)
        tokens = await wired.use_cases.refresh_tokens(
            RefreshCommand(
                refresh_token=token, ip=client_ip(request), user_agent=user_agent(request)
            )
        )
        return _tokens_response(tokens, "Access token refreshed", wired)

    @get(
        "/profile",
        security=ACCESS_TOKEN,
        cache_control=NOT_STORED,
        responses=error_responses(401, 503),
    )
    async def profile(self, request: Request[Any, Any, Any]) -> Envelope[UserView]:
        principal = await authenticated(request)
        return Envelope(200, UserView.of(principal.user), "Profile fetched successfully")

    @patch(
        "/update-profile",
        security=ACCESS_TOKEN,
        responses=error_responses(400, 401, 403, 413, 415, 503),
    )
    async def update_profile(
        self,
        request: Request[Any, Any, Any],
        data: UpdateProfileBody,
    ) -> Envelope[UserView]:
        access_claims = access_claims_of(request)
        user = await wiring(request).use_cases.update_profile(
            UpdateProfileCommand(
                user_id=access_claims.user_id,
                session_id=access_claims.session_id,
                name=_given(data.name),
                bio=_given(data.bio),
                contact=_given(data.contact),
            )
        )
        return Envelope(200, UserView.of(user), "Profile updated successfully")

    @delete(
        "/profile",
        status_code=200,
        security=ACCESS_TOKEN,
        responses=error_responses(401, 403, 404, 503),
    )
    async def delete_profile(
        self,
        request: Request[Any, Any, Any],
    ) -> Response[Envelope[None]]:
        principal = await authenticated(request)
        wired = wiring(request)
        await wired.use_cases.delete_account(
            DeleteAccountCommand(
                user_id=principal.user.id, session_id=principal.session_id, ip=client_ip(request)
            )
        )
        return Response(
            Envelope(200, None, "User deleted successfully"),
            cookies=[*wired.token_cookies.clear(), wired.token_cookies.clear_device()],
        )

    @patch(
        "/change-password",
        opt=THROTTLED,
        security=ACCESS_TOKEN,
        responses=error_responses(400, 401, 403, 404, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        data: ChangePasswordBody,
    ) -> Response[Envelope[TokensView]]:
        principal = await authenticated(request)
        wired = wiring(request)
        tokens = await wired.use_cases.change_password(
            ChangePasswordCommand(
                user_id=principal.user.id,
                session_id=principal.session_id,
                current_password=data.current_password,
                new_password=data.new_password,
                ip=client_ip(request),
                device_token=device_token_of(request),
            )
        )
        return _tokens_response(tokens, "Password changed", wired)

    @get(
        "/sessions",
        security=ACCESS_TOKEN,
        cache_control=NOT_STORED,
        responses=error_responses(401, 503),
    )
    async def sessions(self, request: Request[Any, Any, Any]) -> Envelope[list[SessionView]]:
        principal = await authenticated(request)
        sessions = await wiring(request).use_cases.list_sessions(
            ListSessionsQuery(user_id=principal.user.id)
        )
        views = [SessionView.of(session, principal.session_id) for session in sessions]
        return Envelope(200, views, "Sessions fetched successfully")

    @delete(
        "/sessions/{session_id:str}",
        status_code=200,
        security=ACCESS_TOKEN,
        responses=error_responses(400, 401, 403, 404, 503),
    )
    async def revoke_session(
        self,
        request: Request[Any, Any, Any],
        session_id: FromPath[str],
    ) -> Response[Envelope[None]]:
        principal = await authenticated(request)
        wired = wiring(request)
        await wired.use_cases.revoke_session(
            RevokeSessionCommand(
                user_id=principal.user.id, session_id=session_id, ip=client_ip(request)
            )
        )
        # Ending the current session is a logout: its cookies go too.
        cookies = wired.token_cookies.clear() if session_id == principal.session_id else []
        return Response(Envelope(200, None, "Session revoked"), cookies=cookies)

    @post(
        "/logout",
        status_code=200,
        security=ACCESS_OR_REFRESH_TOKEN,
        responses=error_responses(400, 401, 403, 413, 415, 503),
        operation_class=DocumentedOperation,
    )
    async def logout(
        self,
        request: Request[Any, Any, Any],
        data: RefreshBody = None,
    ) -> Response[Envelope[None]]:
        wired = wiring(request)
        await wired.use_cases.logout(
            LogoutCommand(
                access_token=access_token_of(request),
                refresh_token=refresh_token_of(request, data.refresh_token if data else None),
            )
        )
        return Response(
            Envelope(200, None, "User logged out successfully"),
            cookies=wired.token_cookies.clear(),
        )

    @post(
        "/forgot-password",
        status_code=202,
        opt=THROTTLED,
        responses=error_responses(400, 403, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def forgot_password(
        self, request: Request[Any, Any, Any], data: ForgotPasswordBody
    ) -> Response[Envelope[None]]:
        """The same answer, after the same steps, for any valid address within its limits: the
        account's writes run after the response is sent, so they cannot show in its time."""
        use_case = wiring(request).use_cases.request_password_reset
        pending = await use_case.check(
            ForgotPasswordCommand(email=data.email, ip=client_ip(request))
        )
        return Response(
            Envelope(202, None, "If an account has this email, a reset link is on its way"),
            status_code=202,
            background=BackgroundTask(_queue_reset, use_case, pending),
        )

    @post(
        "/reset-password",
        status_code=200,
        opt=THROTTLED,
        responses=error_responses(400, 403, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def reset_password(
        self, request: Request[Any, Any, Any], data: ResetPasswordBody
    ) -> Response[Envelope[None]]:
        wired = wiring(request)
        await wired.use_cases.reset_password(
            ResetPasswordCommand(
                token=data.token, new_password=data.new_password, ip=client_ip(request)
            )
        )
        # Every session has ended, this browser's too.
        return Response(
            Envelope(200, None, "Password reset; sign in with the new password"),
            cookies=wired.token_cookies.clear(),
        )

    @post(
        "/verify-email",
        status_code=200,
        responses=error_responses(400, 403, 413, 415, 503),
        operation_class=DocumentedOperation,
    )
    async def verify_email(
        self, request: Request[Any, Any, Any], data: TokenBody
    ) -> Response[Envelope[UserView]]:
        user = await wiring(request).use_cases.verify_email(VerifyEmailCommand(token=data.token))
        return Response(Envelope(200, UserView.of(user), "Email verified"), headers=NO_STORE)

    @post(
        "/resend-verification",
        status_code=202,
        opt=THROTTLED,
        security=ACCESS_TOKEN,
        response_description="Verification mail queued",
        responses={
            200: ResponseSpec(
                data_container=Envelope[None],
                generate_examples=False,
                description="Email already verified: no mail sent",
            ),
            **error_responses(401, 403, 404, 429, 503),
        },
        operation_class=DocumentedOperation,
    )
    async def resend_verification(
        self, request: Request[Any, Any, Any]
    ) -> Response[Envelope[None]]:
        """202 when a mail is queued; 200, and no mail, when the address is verified already."""
        principal = await authenticated(request)
        queued = await wiring(request).use_cases.resend_verification(
            ResendVerificationCommand(user_id=principal.user.id)
        )
        if not queued:
            return Response(Envelope(200, None, "Email already verified"), status_code=200)
        return Response(Envelope(202, None, "Verification mail queued"), status_code=202)

    @post(
        "/change-email",
        status_code=202,
        opt=THROTTLED,
        security=ACCESS_TOKEN,
        responses=error_responses(400, 401, 403, 404, 409, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def change_email(
        self, request: Request[Any, Any, Any], data: ChangeEmailBody
    ) -> Envelope[None]:
        principal = await authenticated(request)
        await wiring(request).use_cases.request_email_change(
            RequestEmailChangeCommand(
                user_id=principal.user.id,
                password=data.password,
                new_email=data.new_email,
                session_id=principal.session_id,
                ip=client_ip(request),
                device_token=device_token_of(request),
            )
        )
        return Envelope(202, None, "Confirmation mail sent to the new address")

    @post(
        "/confirm-email-change",
        status_code=200,
        responses=error_responses(400, 403, 409, 413, 415, 503),
        operation_class=DocumentedOperation,
    )
    async def confirm_email_change(
        self, request: Request[Any, Any, Any], data: TokenBody
    ) -> Response[Envelope[UserView]]:
        wired = wiring(request)
        user = await wired.use_cases.confirm_email_change(
            ConfirmEmailChangeCommand(token=data.token, ip=client_ip(request))
        )
        # Every session has ended, this browser's too.
        return Response(
            Envelope(200, UserView.of(user), "Email changed; sign in with the new address"),
            cookies=wired.token_cookies.clear(),
            headers=NO_STORE,
        )


async def _queue_reset(use_case: RequestPasswordReset, pending: PendingReset) -> None:
    """Runs after the response: no client is left to tell of a failure, so it is logged (its
    type only: a driver's message may carry the address)."""
    try:
        await use_case.queue(pending)
    except Exception as error:  # the last place anything can see it
        logger.error("password reset mail not queued: %s", type(error).__name__)


def _login_response(
    result: LoginResult, wired: Wiring
) -> Response[Envelope[LoginView | MfaChallengeView]]:
    view = LoginView(user=UserView.of(result.user))
    if wired.tokens_in_body:
        view.access_token = result.tokens.access_token
        view.refresh_token = result.tokens.refresh_token
    return Response(
        Envelope(200, view, "User logged in successfully"),
        cookies=[
            *wired.token_cookies.set(result.tokens),
            wired.token_cookies.device(result.device_token),
        ],
        headers=NO_STORE,
    )


class SecondFactorController(Controller):
    """The caller's own second factor. Every answer is `no-store`: some carry secrets."""

    path = "/users/mfa"
    tags = ("second factor",)

    @get(
        "/",
        security=ACCESS_TOKEN,
        cache_control=NOT_STORED,
        responses=error_responses(401, 503),
    )
    async def status(self, request: Request[Any, Any, Any]) -> Envelope[MfaStatusView]:
        principal = await authenticated(request)
        status = await wiring(request).use_cases.second_factor_status(principal.user)
        return Envelope(200, MfaStatusView.of(status), "Second factor status fetched")

    @post(
        "/totp/setup",
        status_code=200,
        opt=THROTTLED,
        security=ACCESS_TOKEN,
        cache_control=NOT_STORED,
        responses=error_responses(400, 401, 403, 409, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def set_up_totp(
        self, request: Request[Any, Any, Any], data: PasswordBody
    ) -> Envelope[TotpSetupView]:
        principal = await authenticated(request)
        setup = await wiring(request).use_cases.set_up_totp(
            SetUpTotpCommand(
                user=principal.user,
                password=data.password,
                ip=client_ip(request),
                device_token=device_token_of(request),
            )
        )
        return Envelope(200, TotpSetupView.of(setup), "Scan the QR code, then confirm with a code")

    @post(
        "/totp/confirm",
        status_code=200,
        opt=THROTTLED,
        security=ACCESS_TOKEN,
        cache_control=NOT_STORED,
        responses=error_responses(400, 401, 403, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def confirm_totp(
        self, request: Request[Any, Any, Any], data: CodeBody
    ) -> Envelope[RecoveryCodesView]:
        principal = await authenticated(request)
        codes = await wiring(request).use_cases.confirm_totp(
            ConfirmTotpCommand(user=principal.user, code=data.code, ip=client_ip(request))
        )
        return Envelope(
            200,
            RecoveryCodesView(recovery_codes=codes.codes),
            "Two-step verification is on; keep the recovery codes safe",
        )

    @delete(
        "/totp",
        status_code=200,
        opt=THROTTLED,
        security=ACCESS_TOKEN,
        cache_control=NOT_STORED,
        responses=error_responses(400, 401, 403, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def disable_totp(
        self, request: Request[Any, Any, Any], data: DisableTotpBody
    ) -> Envelope[None]:
        principal = await authenticated(request)
        await wiring(request).use_cases.disable_totp(
            DisableTotpCommand(
                user=principal.user,
                password=data.password,
                code=data.code,
                ip=client_ip(request),
                device_token=device_token_of(request),
            )
        )
        return Envelope(200, None, "Two-step verification is off")

    @post(
        "/recovery-codes",
        status_code=200,
        opt=THROTTLED,
        security=ACCESS_TOKEN,
        cache_control=NOT_STORED,
        responses=error_responses(400, 401, 403, 413, 415, 429, 503),
        operation_class=DocumentedOperation,
    )
    async def regenerate_recovery_codes(
        self, request: Request[Any, Any, Any], data: CodeBody
    ) -> Envelope[RecoveryCodesView]:
        principal = await authenticated(request)
        codes = await wiring(request).use_cases.regenerate_recovery_codes(
            RegenerateRecoveryCodesCommand(
                user=principal.user, code=data.code, ip=client_ip(request)
            )
        )
        return Envelope(
            200,
            RecoveryCodesView(recovery_codes=codes.codes),
            "New recovery codes; the old ones no longer work",
        )


def _tokens_response(
    tokens: TokenPair, message: str, wired: Wiring
) -> Response[Envelope[TokensView]]:
    view = TokensView.of(tokens) if wired.tokens_in_body else TokensView()
    return Response(
        Envelope(200, view, message), cookies=wired.token_cookies.set(tokens), headers=NO_STORE
    )


def _given(value: T | msgspec.UnsetType) -> T | Unset:
    """msgspec's marker for an absent field, in the domain's terms."""
    return UNSET if isinstance(value, msgspec.UnsetType) else value
