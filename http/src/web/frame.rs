//! The frame of the signed-in areas (cabinet and back office): the sections a role may open,
//! logout, and a notice of what the last action did.

use k911_aggregates::values::Role;

use super::forms::Notice;
use crate::auth::Caller;

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
    /// The frame for `caller`: a borrower sees the cabinet's sections, staff the back office's
    /// sections their role may use.
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
            if role == Role::Admin {
                nav.push(link("/staff/effects", "Эффекты"));
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
