def organization(request):
    membership = getattr(request, "membership", None)
    if not membership:
        return {"org": None, "membership": None, "can_write": False}
    return {
        "org": membership.organization,
        "membership": membership,
        "can_write": membership.can("write"),
    }
