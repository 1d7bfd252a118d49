//! What every console page shares: the layout's data ([`Chrome`]), rendering a template into a
//! response, the signed-in person ([`SignedIn`]), and [`PageError`], which answers any failure
//! with an HTML page in the console's look (a missing or foreign portal is the same 404 page).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use askama::Template;
use ember_core::store::agencies::Membership;
use futures_util::future::LocalBoxFuture;

use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::state::Tenancy;

/// A short message shown at the top of a page (after a form was handled).
pub(crate) struct Notice {
    /// `ok`, `error` or `info` (a CSS modifier).
    pub kind: &'static str,
    pub text: String,
}

/// The layout's data: title, navigation, the person, the CSRF token of their session.
pub(crate) struct Chrome {
    pub title: String,
    /// Which top-level area is open (`home`, `portal`, `team`), for `aria-current`.
    pub section: &'static str,
    pub agency_id: Option<i64>,
    pub agencies: Vec<Membership>,
    pub person_label: Option<String>,
    pub csrf_token: String,
    pub notice: Option<Notice>,
}

impl Chrome {
    /// The layout of a page without a signed-in person (error pages).
    pub(crate) fn bare(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            section: "",
            agency_id: None,
            agencies: Vec::new(),
            person_label: None,
            csrf_token: String::new(),
            notice: None,
        }
    }

    /// Whether this is the team page of `agency` (for the navigation's `aria-current`).
    pub(crate) fn is_team_of(&self, agency: impl std::borrow::Borrow<i64>) -> bool {
        self.section == "team" && self.agency_id == Some(*agency.borrow())
    }

    pub(crate) fn with_notice(mut self, notice: Option<Notice>) -> Self {
        self.notice = notice;
        self
    }
}

/// The signed-in person with what every page needs about them. Extracting it answers the
/// sign-in page when nobody is signed in.
pub(crate) struct SignedIn {
    pub person: CurrentPerson,
    pub tenancy: web::Data<Tenancy>,
    pub memberships: Vec<Membership>,
    pub label: String,
}

impl SignedIn {
    /// The layout for a page of this person.
    pub(crate) fn chrome(&self, title: impl Into<String>, section: &'static str) -> Chrome {
        Chrome {
            title: title.into(),
            section,
            agency_id: None,
            agencies: self.memberships.clone(),
            person_label: Some(self.label.clone()),
            csrf_token: self.tenancy.signer.csrf_token(self.person.session_id),
            notice: None,
        }
    }

    /// Refuses a console form whose `_csrf` field is missing or wrong (403 page).
    pub(crate) fn check_csrf(&self, presented: &str) -> Result<(), PageError> {
        crate::session::check_csrf(
            &self.tenancy.signer,
            self.person.session_id,
            Some(presented),
        )
        .map_err(PageError::from)
    }
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let tenancy = req.app_data::<web::Data<Tenancy>>().cloned();
        let person = CurrentPerson::from_request(req, payload);
        Box::pin(async move {
            let tenancy = tenancy.ok_or(PageError::SignIn)?;
            let person = person.await.map_err(PageError::from)?;
            let memberships =
                ember_core::store::agencies::memberships(&tenancy.pool, person.person_id)
                    .await
                    .map_err(PageError::database)?;
            let label = person_label(&tenancy, &memberships, person.person_id).await?;
            Ok(SignedIn {
                person,
                tenancy,
                memberships,
                label,
            })
        })
    }
}

/// What to call the person in the top bar: their entry in one of their agencies' teams.
async fn person_label(
    tenancy: &Tenancy,
    memberships: &[Membership],
    person: i64,
) -> Result<String, PageError> {
    let Some(first) = memberships.first() else {
        return Ok(format!("Person {person}"));
    };
    let mut conn = tenancy.pool.acquire().await.map_err(PageError::database)?;
    let member = ember_core::store::agencies::member(&mut conn, first.agency_id, person)
        .await
        .map_err(PageError::database)?;
    Ok(member.map_or_else(|| format!("Person {person}"), |m| m.name))
}

/// Renders a template as an HTML response. Console pages are never cached: they show live data
/// and carry the session's CSRF token.
pub(crate) fn render(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "Rendering a console page failed.");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("The page could not be shown; the error has been logged.")
        }
    }
}

/// Redirects after a form was handled (POST, then GET: reloading does not repeat the change).
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    message: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    heading: &'a str,
    message: &'a str,
}

/// A failure answered as a console page.
pub(crate) enum PageError {
    /// Nobody is signed in (or the session ended): the sign-in page.
    SignIn,
    /// Not found, or outside the person's agencies (the same page, on purpose).
    NotFound,
    /// Any other refusal with its status and a message for the person.
    Refused { status: StatusCode, message: String },
    /// Our failure; the cause goes to the log, not the page.
    Internal(anyhow::Error),
}

impl PageError {
    pub(crate) fn database(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::Refused {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e.status {
            StatusCode::UNAUTHORIZED => Self::SignIn,
            StatusCode::NOT_FOUND => Self::NotFound,
            s if s.is_server_error() => Self::Internal(
                e.source
                    .unwrap_or_else(|| anyhow::anyhow!("{}: {}", e.code, e.message)),
            ),
            status => Self::Refused {
                status,
                message: e.message,
            },
        }
    }
}

impl std::fmt::Debug for PageError {
    // tracing-actix-web logs this on every 5xx: the chain, bounded, never a backtrace.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn => f.write_str("SignIn"),
            Self::NotFound => f.write_str("NotFound"),
            Self::Refused { status, message } => write!(f, "Refused({status}: {message})"),
            Self::Internal(cause) => write!(f, "Internal({})", crate::error::bounded_cause(cause)),
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn => f.write_str("sign in first"),
            Self::NotFound => f.write_str("not found"),
            Self::Refused { message, .. } => f.write_str(message),
            Self::Internal(_) => f.write_str("internal error"),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            // The sign-in page is what a signed-out person should see: not an error to them,
            // but scripts and crawlers learn that the page needs a session.
            Self::SignIn => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Refused { status, .. } => *status,
            Self::Internal(cause) if crate::error::database_unreachable(cause) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (heading, message) = match self {
            Self::SignIn => return render(status, &SignInPage { message: None }),
            Self::NotFound => (
                "Page not found",
                "There is nothing here, or it belongs to an agency you are not a member of.",
            ),
            Self::Refused { status, message } => match *status {
                StatusCode::FORBIDDEN => ("Not allowed", message.as_str()),
                StatusCode::CONFLICT => ("That change was refused", message.as_str()),
                _ => ("That did not work", message.as_str()),
            },
            Self::Internal(cause) if status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(cause = %crate::error::bounded_cause(cause), "A console page could not reach the database.");
                (
                    "Ember is unavailable",
                    "Ember cannot reach its database right now. Please try again in a moment.",
                )
            }
            Self::Internal(cause) => {
                tracing::error!(cause = %crate::error::bounded_cause(cause), "A console page failed.");
                (
                    "Something went wrong",
                    "Ember could not show this page. The error has been logged; please try again.",
                )
            }
        };
        let mut response = render(
            status,
            &ErrorPage {
                chrome: Chrome::bare(heading),
                status: status.as_u16(),
                heading,
                message,
            },
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::error::DATABASE_RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// The sign-in page, as a normal page (`/app/sign-in`, and after signing out).
pub(crate) fn sign_in_page(message: Option<&'static str>) -> HttpResponse {
    render(StatusCode::OK, &SignInPage { message })
}
