from config.errors import Conflict, DomainError, NotFound, RateLimited, ValidationFailed


class RiderNotFound(NotFound):
    code = "rider_not_found"
    default_message = "No rider matches."


class UsernameTaken(Conflict):
    code = "username_taken"
    default_message = "That username is taken."


class EmailTaken(Conflict):
    code = "email_taken"
    default_message = "An account with that email already exists."


class InvalidRiderData(ValidationFailed):
    code = "invalid_rider"
    default_message = "Some rider details are not valid."


class PasswordAttemptsLimited(RateLimited):
    default_message = "Too many wrong passwords; wait before trying again."


class WrongPassword(ValidationFailed):
    code = "wrong_password"
    default_message = "The current password is not correct."


class WeakPassword(ValidationFailed):
    code = "weak_password"
    default_message = "The new password is too weak."


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = 401
    default_message = "That username or email and password do not match an active account."


class RiderAlreadyInactive(Conflict):
    code = "rider_already_inactive"
    default_message = "This rider is already deactivated."


class CannotDeactivateSelf(DomainError):
    code = "cannot_deactivate_self"
    status = 422
    default_message = "Staff cannot deactivate their own account."


class SuperuserProtected(DomainError):
    code = "superuser_protected"
    status = 403
    default_message = "Only a superuser can deactivate a superuser."


class UnknownStaffRole(ValidationFailed):
    code = "unknown_staff_role"
    default_message = "That is not a staff role."


class EmailTokenInvalid(DomainError):
    """Not a link Convoy sent (mistyped, forged), or one for an account that is closed."""

    code = "token_invalid"
    status = 400
    default_message = "This link is not valid. Ask for a new one."


class EmailTokenExpired(DomainError):
    code = "token_expired"
    status = 410
    default_message = "This link has expired. Ask for a new one."


class EmailTokenUsed(DomainError):
    code = "token_used"
    status = 410
    default_message = "This link has already been used."


class EmailTokenSuperseded(DomainError):
    code = "token_superseded"
    status = 410
    default_message = (
        "This link no longer applies: a newer one was sent, or the account's email or "
        "password changed since. Use the latest mail, or ask for a new link."
    )


class EmailAlreadyVerified(Conflict):
    code = "email_already_verified"
    default_message = "This email address is already confirmed."


class VerificationMailsLimited(RateLimited):
    default_message = "Too many confirmation mails for this account; wait before asking again."


class DeviceNotFound(NotFound):
    code = "device_not_found"
    default_message = "No signed-in device of yours has that id."


class AccountClosed(DomainError):
    """The account was deactivated or deleted while this request was on its way: the token
    it came with no longer works, and nothing was changed."""

    code = "account_closed"
    status = 401
    default_message = "This account has been deactivated or deleted."


class AccountAlreadyDeleted(Conflict):
    code = "account_already_deleted"
    default_message = "This account has already been deleted."


class StandInNotDeletable(DomainError):
    code = "stand_in_not_deletable"
    status = 422
    default_message = (
        "This rider is the anonymous stand-in of a deleted account; it holds no one's data."
    )


class CannotDeleteSelf(DomainError):
    code = "cannot_delete_self"
    status = 422
    default_message = "Staff delete their own account from the app, with their password."


class SuperuserDeletionProtected(SuperuserProtected):
    default_message = "Only a superuser can delete a superuser's account."


class InvalidEmergencyContact(ValidationFailed):
    code = "invalid_emergency_contact"
    default_message = "Some emergency contact details are not valid."


class EmergencyContactsFull(Conflict):
    code = "emergency_contacts_full"
    default_message = "A rider keeps at most 5 emergency contacts; remove one first."


class EmergencyContactNotFound(NotFound):
    code = "emergency_contact_not_found"
    default_message = "You have no such emergency contact."
