//! The frame of the signed-in areas (cabinet and back office): the sections a role may open,
//! logout, and a notice of what the last action did.

use k911_aggregates::values::Role;

use askama::Template;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::csrf::CsrfToken;
use super::forms::{Done, Notice};
use super::session::Signed;
use super::{render, PageError};
use crate::auth::Caller;
use crate::AppState;

pub(crate) struct NavLink {
    pub(crate) href: &'static str,
    pub(crate) label: &'static str,
}

pub(crate) struct Frame {
    pub(crate) csrf: String,
    pub(crate) home: &'static str,
    pub(crate) nav: Vec<NavLink>,
    pub(crate) notice: Option<Notice>,
}

impl Frame {
    /// The frame for `caller`: a borrower sees the cabinet's sections, an agent theirs, staff
    /// the back office's sections their role may use.
    pub(crate) fn new(caller: &Caller, csrf: String, dev_routes: bool) -> Self {
        let link = |href, label| NavLink { href, label };
        let role = caller.principal.role;
        let nav = if role == Role::Borrower {
            vec![
                link("/cabinet", "Мои займы"),
                link("/cabinet/applications", "Заявки"),
                link("/cabinet/support", "Поддержка"),
                link("/cabinet/settings", "Настройки"),
            ]
        } else if role == Role::Agent {
            vec![
                link("/agent", "Клиенты"),
                link("/agent/commissions", "Вознаграждение"),
                link("/agent/statements", "Отчёты"),
            ]
        } else {
            let mut nav = vec![];
            if role == Role::Underwriter {
                nav.push(link("/staff/applications", "Заявки"));
            }
            if role == Role::Support {
                nav.push(link("/staff/support", "Обращения"));
            }
            if matches!(role, Role::Support | Role::Admin) {
                nav.push(link("/staff/payments", "Платежи"));
                nav.push(link("/staff/content", "Содержание"));
            }
            if matches!(role, Role::Admin | Role::Finance | Role::Support) {
                nav.push(link("/staff/agents", "Агенты"));
            }
            if role == Role::Admin {
                nav.push(link("/staff/effects", "Эффекты"));
            }
            if role == Role::Compliance {
                nav.push(link("/staff/compliance", "Комплаенс"));
                nav.push(link("/staff/compliance/audit", "Журнал аудита"));
            }
            if dev_routes {
                nav.push(link("/staff/dev/payment", "Тестовый платёж"));
            }
            nav
        };
        Self {
            csrf,
            home: super::session::home(role),
            nav,
            notice: None,
        }
    }

    pub(crate) fn with_notice(mut self, notice: Option<Notice>) -> Self {
        self.notice = notice;
        self
    }
}

/// A signed-in visit of a page: who, the token for the page's forms, and what their last action
/// did; the frame of the page follows from it.
pub(crate) struct Visit {
    pub(crate) caller: Caller,
    csrf: CsrfToken,
    notice: Option<Notice>,
    dev_routes: bool,
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Signed(caller) = Signed::from_request_parts(parts, state).await?;
        let Ok(csrf) = CsrfToken::from_request_parts(parts, state).await;
        let done = Query::<Done>::from_request_parts(parts, state)
            .await
            .map_or_else(|_| Done::default(), |Query(done)| done);
        if let Some(position) = done.at {
            // Read your own write, as `X-Min-Position` does for the API; a position the log
            // has not reached (a hand-edited address) shows the page as it is.
            let waited = state
                .app
                .followers
                .wait_for(position, crate::MIN_POSITION_WAIT)
                .await;
            if let Err(error) = waited {
                tracing::debug!(%error, "the page shows the read models as they are");
            }
        }
        Ok(Self {
            caller,
            csrf,
            notice: done.notice(),
            dev_routes: state.dev_routes,
        })
    }
}

impl Visit {
    /// The visit, if the caller has one of `roles`; otherwise a "no access" page.
    pub(crate) fn of(self, roles: &[Role]) -> Result<Self, PageError> {
        Signed(self.caller)
            .require(roles)
            .map(|caller| Self { caller, ..self })
    }

    pub(crate) fn frame(&self) -> Frame {
        Frame::new(&self.caller, self.csrf.token.clone(), self.dev_routes)
            .with_notice(self.notice.clone())
    }

    /// The page, with the form token's cookie if the browser had none.
    pub(crate) fn answer(self, page: &impl Template) -> Result<Response, PageError> {
        Ok((self.csrf.jar, render(page)?).into_response())
    }
}
