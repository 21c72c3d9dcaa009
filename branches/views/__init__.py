from branches.views.imports import *  # noqa: F403
from branches.views.meetings import *  # noqa: F403
from branches.views.organizations import *  # noqa: F403
