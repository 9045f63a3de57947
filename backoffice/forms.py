from django import forms

from common.sign_in import BoundedAuthenticationForm


class StaffSignInForm(BoundedAuthenticationForm):
    """Only staff may sign in to the back office; a portal customer is told where to go instead."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise forms.ValidationError(
                "This sign-in is for staff. Customers sign in at the customer portal.", code="not_staff"
            )
