from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path
from django.utils.html import escape


@login_required
def page(request):
    """The page a sign-in returns to, naming the user as stepgate's demo page does."""
    return HttpResponse(f'<p>Signed in as <strong id="user-name">{escape(request.user.username)}</strong></p>')


urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("demo/jit-nopassword/welcome", page),
    path("", lambda request: HttpResponse("peer")),
]
