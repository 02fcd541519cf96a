"""What weight_norm and spectral_norm share: taking their forward pre-hook off a module."""


def remove_reparametrization(module, hook_type, name, label):
    """Undo the ``hook_type`` hook on ``module.<name>`` (it folds its weight back in)."""
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, hook_type) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"{label} of '{name}' not found in {module}")
