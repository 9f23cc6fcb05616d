//! The small forms many pages share, and the notice of what the last action did.

use serde::Deserialize;

use super::csrf::WithCsrf;

/// What the last action did, named in the address it sent the browser to (`?done=`), and the
/// log position it wrote (`&at=`), which the next page waits for so it shows the change.
#[derive(Deserialize, Default)]
pub(crate) struct Done {
    done: Option<String>,
    pub(crate) at: Option<i64>,
}

/// Where an action sends the browser: `to`, saying what was `done` and the position to wait for.
pub(crate) fn done_at(to: &str, done: &str, position: i64) -> String {
    format!("{to}?done={done}&at={position}")
}

impl Done {
    pub(crate) fn notice(&self) -> Option<Notice> {
        let alert = |text: &str| {
            Some(Notice {
                text: text.to_string(),
                alert: true,
            })
        };
        let text = match self.done.as_deref()? {
            "bad_code" => return alert("Неверный или устаревший код. Запросите новый."),
            "code_throttled" => return alert("Слишком много попыток. Запросите новый код позже."),
            "empty_question" => return alert("Напишите вопрос."),
            "weak_password" => return alert(&format!(
                "Новый пароль — не короче {} символов и не такой, как текущий.",
                k911_commands::auth::MIN_PASSWORD_CHARS
            )),
            "wrong_password" => return alert("Текущий пароль неверен."),
            "no_contract" => return alert("Договор с таким номером не найден."),
            "match_refused" => return alert("Этот платёж уже зачтён или договор его не принимает."),
            "faq_incomplete" => return alert("Заполните вопрос и ответ."),
            "document_refused" => return alert("Нужны название и файл PDF не больше 10 МБ."),
            "too_old" => return alert("Выплата старше суток: сверьте её с провайдером вручную, повтор может заплатить дважды."),
            "not_dead" => return alert("Этот эффект не остановлен: повторять нечего."),
            "link_failed" => return alert("Не удалось привязать аккаунт: возможно, он уже привязан к другому кабинету."),
            "agent_unchanged" => return alert("Агент уже в этом состоянии."),
            "plan_refused" => return alert("План не сохранён: процент от 0 до 100, суммы — целые рубли, дата не раньше сегодняшней и позже начала текущего плана."),
            "payment_refused" => return alert("Выплата не одобрена: отчёт не закрыт, к выплате ничего нет или она уже одобрена."),
            "agent_registered" => "Агент зарегистрирован: передайте ему логин, пароль и ссылку.",
            "agent_suspended" => "Агент приостановлен.",
            "agent_resumed" => "Агент снова работает.",
            "plan_changed" => "Новый план сохранён.",
            "payment_approved" => "Выплата одобрена: деньги уйдут агенту один раз.",
            "approved" => "Заявка одобрена: клиенту ушло SMS с решением.",
            "rejected" => "В заявке отказано: клиенту ушло SMS с решением.",
            "answered" => "Ответ отправлен.",
            "closed" => "Обращение закрыто.",
            "empty" => "Очередь пуста: брать нечего.",
            "matched" => "Платёж зачислен по договору.",
            "retried" => "Эффект снова в работе.",
            "sent" => "Уведомление о платеже отправлено.",
            "saved" => "Сохранено.",
            "signed" => "Договор подписан: деньги уже в пути.",
            "applied" => "Заявка подана: решение придёт по SMS.",
            "asked" => "Обращение принято: ответим строго по очереди.",
            "erased" => "Данные клиента удалены: ключ уничтожен, вход невозможен.",
            "erasure_refused" => "Удалить данные пока нельзя: отказ записан, клиенту сообщено.",
            "consent_withdrawn" => "Согласие на запрос кредитной истории отозвано.",
            "deletion_asked" => "Запрос на удаление профиля принят: его рассмотрят в порядке очереди.",
            "password_changed" => "Пароль изменён; другие сеансы завершены.",
            "linked" => "Аккаунт соцсети привязан.",
            "unlinked" => "Аккаунт соцсети отвязан.",
            "code_sent" => "Новый код отправлен по SMS.",
            "refund" => "Переплата возвращается на вашу карту или кошелёк.",
            "payment_applied" => "Платёж принят и зачтён по договору.",
            "payment_duplicate" => "Такой платёж уже был: повтор не зачтён.",
            "payment_unmatched" => "Платёж принят, но договор не найден: он ждёт сотрудника.",
            _ => return None,
        };
        Some(Notice {
            text: text.to_string(),
            alert: false,
        })
    }
}

/// What the last action did: done, or refused (`alert`).
#[derive(Clone)]
pub(crate) struct Notice {
    pub(crate) text: String,
    pub(crate) alert: bool,
}

/// A form of nothing but its token: a button.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

impl WithCsrf for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A form of one text: an answer, a reason, a code.
#[derive(Deserialize)]
pub(crate) struct TextForm {
    csrf: String,
    #[serde(default, alias = "reason", alias = "code")]
    pub(crate) text: String,
}

impl WithCsrf for TextForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
