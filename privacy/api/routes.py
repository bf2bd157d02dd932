from privacy.api.views import AccountDataViewSet


def register_routes(router) -> None:
    # Beside the account's own routes (riders/me/...), which riders.api registers.
    router.register("riders/me", AccountDataViewSet, basename="account-data")
