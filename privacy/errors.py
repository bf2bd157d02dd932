from config.errors import Conflict, DomainError, NotFound


class ExportNotFound(NotFound):
    code = "export_not_found"
    default_message = "No export has been asked for; POST riders/me/export/ to ask for one."


class ExportNotReady(Conflict):
    code = "export_not_ready"
    default_message = "The export is still being built; ask for its state again later."


class ExportGone(DomainError):
    code = "export_gone"
    status = 410
    default_message = "That export is no longer offered; ask for a new one."
