"""The WeChat protocol module on its own: signatures, safe-mode crypto, XML, reply
shaping, numbered choices, and the customer-service API against the simulator."""

import asyncio
import base64
import logging

import pytest
from wechat_sim import BILLION_LAUGHS, XXE, Account, WeChatSim

from bot import wechat

# Tencent's published safe-mode sample (WXBizMsgCrypt demo). The signature, the
# plaintext and the ciphertext below were re-derived independently with
# `sha1sum` and `openssl enc -aes-256-cbc -nopad` before being written here.
SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE = {
    "token": "spamtest",
    "appid": "wx2c2769f8efd9abc2",
    "timestamp": "1409735669",
    "nonce": "1320562132",
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    "encrypt": (
        "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1Q"
        "LvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS"
        "7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6N"
        "PhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSV"
        "O/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrc"
        "pCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
    ),
}
TRIAGE_TURN = [
    {"text": "您说的属于【劳动争议】方面的问题。可以这样做："},
    {"text": "⏰ 注意时间：\n· 申请劳动仲裁一般要在一年内提出。"},
    {
        "text": "法律援助：经济困难的可以申请法律援助。",
        "buttons": [
            {"title": "申请法律援助", "payload": "/apply_legal_aid"},
            {"title": "常见问题", "payload": "/ask_category_faq"},
            {"title": "转人工", "payload": "/request_human"},
        ],
    },
]


# --- signatures ---------------------------------------------------------------


def test_url_check_signature_is_sha1_of_the_sorted_token_timestamp_and_nonce():
    # sha1("1409735669" + "1320562132" sorted with "spamtest"), computed with sha1sum
    sig = wechat.sign("spamtest", "1409735669", "1320562132")
    assert wechat.check_signature("spamtest", sig, "1409735669", "1320562132")
    assert not wechat.check_signature("other", sig, "1409735669", "1320562132")
    assert not wechat.check_signature("spamtest", sig, "1409735670", "1320562132")
    assert not wechat.check_signature("spamtest", None, "1409735669", "1320562132")
    assert not wechat.check_signature("spamtest", sig, None, "1320562132")
    assert not wechat.check_signature("", wechat.sign("", "1", "2"), "1", "2")
    assert not wechat.check_signature("spamtest", "签名" * 20, "1", "2")


def test_tencent_sample_msg_signature_is_accepted_and_a_changed_one_refused():
    s = SAMPLE
    assert wechat.check_msg_signature(
        s["token"], s["msg_signature"], s["timestamp"], s["nonce"], s["encrypt"]
    )
    assert not wechat.check_msg_signature(
        s["token"], s["msg_signature"], s["timestamp"], s["nonce"], s["encrypt"][1:]
    )


# --- safe mode ------------------------------------------------------------------


def test_tencent_sample_push_decrypts_to_the_published_message():
    crypto = wechat.WeChatCrypto(SAMPLE_KEY, SAMPLE["appid"])
    fields = wechat.parse_xml(crypto.decrypt(SAMPLE["encrypt"]))
    assert fields["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert fields["Content"] == "abcdteT"
    assert fields["MsgId"] == "6054768590064713728"


def test_encryption_matches_tencent_known_answer():
    # Tencent's Java sample: random prefix fixed to "aaaabbbbccccdddd".
    crypto = wechat.WeChatCrypto(SAMPLE_KEY, "wxb11529c136998cb6")
    assert crypto.encrypt("我是中文abcd123", random_prefix=b"aaaabbbbccccdddd") == (
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    )


def test_round_trip_and_payloads_for_another_account_are_refused():
    crypto = wechat.WeChatCrypto(Account.aes_key, Account.appid)
    message = "<xml><Content><![CDATA[俺三个月工钱没拿到]]></Content></xml>"
    first, second = crypto.encrypt(message), crypto.encrypt(message)
    assert first != second  # fresh random prefix each time
    assert crypto.decrypt(first).decode() == message

    other = wechat.WeChatCrypto(Account.aes_key, "wx0000000000000000")
    with pytest.raises(wechat.CryptoError):
        other.decrypt(first)
    tampered = bytearray(base64.b64decode(first))
    tampered[0] ^= 0xFF  # garbles the length field in the next block
    with pytest.raises(wechat.CryptoError):
        crypto.decrypt(base64.b64encode(bytes(tampered)).decode())
    for garbage in ("", "not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(wechat.CryptoError):
            crypto.decrypt(garbage)


@pytest.mark.parametrize("key", ["", "short", "!" * 43, SAMPLE_KEY + "x"])
def test_a_wrong_encoding_aes_key_is_refused_at_start(key):
    with pytest.raises(ValueError):
        wechat.WeChatCrypto(key, "wx2c2769f8efd9abc2")


def test_encrypted_reply_envelope_is_signed_and_decrypts_to_the_reply():
    crypto = wechat.WeChatCrypto(SAMPLE_KEY, SAMPLE["appid"])
    reply = wechat.text_reply_xml("openid-1", "gh_1", "您好")
    envelope = wechat.parse_xml(crypto.encrypt_reply(reply, "spamtest"))
    assert wechat.check_msg_signature(
        "spamtest",
        envelope["MsgSignature"],
        envelope["TimeStamp"],
        envelope["Nonce"],
        envelope["Encrypt"],
    )
    assert crypto.decrypt(envelope["Encrypt"]).decode() == reply


# --- XML ------------------------------------------------------------------------


def test_push_xml_with_cdata_and_standard_entities_is_read():
    fields = wechat.parse_xml(
        b"<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
        b"<FromUserName><![CDATA[o-1]]></FromUserName><CreateTime>1</CreateTime>"
        b"<MsgType><![CDATA[text]]></MsgType>"
        b"<Content>\xe5\x80\x9f&lt;2\xe4\xb8\x87&gt; &amp; \xe6\xac\xa0\xe6\x9d\xa1"
        b"</Content><MsgId>42</MsgId></xml>"
    )
    message = wechat.Incoming.from_fields(fields)
    assert message.content == "借<2万> & 欠条"
    assert message.key == "msg:42"


DOCTYPE_ONLY = b'<!DOCTYPE xml SYSTEM "http://example.invalid/x.dtd"><xml></xml>'


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        XXE,
        DOCTYPE_ONLY,
        b"<xml><Content>&undefined;</Content></xml>",
        b"<html><body>hi</body></html>",
        b"\xff\xfe\x00garbage<",
        b"",
        b"<xml>" + b"a" * wechat.MAX_BODY + b"</xml>",
    ],
    ids=[
        "billion-laughs",
        "xxe",
        "doctype",
        "undefined-entity",
        "not-xml-root",
        "binary",
        "empty",
        "too-large",
    ],
)
def test_dangerous_or_malformed_xml_is_refused(body):
    with pytest.raises(wechat.XMLError):
        wechat.parse_xml(body)


def test_push_without_sender_or_type_is_refused():
    with pytest.raises(wechat.XMLError):
        wechat.Incoming.from_fields({"ToUserName": "gh_1", "MsgType": "text"})
    with pytest.raises(wechat.XMLError):
        wechat.Incoming.from_fields(
            {"ToUserName": "gh_1", "FromUserName": "o", "MsgType": ""}
        )


def test_event_retries_share_a_key_built_from_sender_and_time():
    fields = {
        "ToUserName": "gh_1",
        "FromUserName": "o-1",
        "CreateTime": "7",
        "MsgType": "event",
        "Event": "subscribe",
    }
    assert (
        wechat.Incoming.from_fields(fields).key
        == wechat.Incoming.from_fields(dict(fields)).key
    )
    assert wechat.Incoming.from_fields({**fields, "CreateTime": "8"}).key != (
        wechat.Incoming.from_fields(fields).key
    )


def test_reply_text_survives_cdata_terminators_and_control_characters():
    xml = wechat.text_reply_xml("o-1", "gh_1", "a]]>b\x00c\x08 法条")
    fields = wechat.parse_xml(xml)
    assert fields["Content"] == "a]]>bc 法条"
    assert fields["ToUserName"] == "o-1" and fields["FromUserName"] == "gh_1"
    assert fields["MsgType"] == "text" and fields["CreateTime"].isdigit()


# --- reply shaping --------------------------------------------------------------


def test_long_replies_are_split_under_2048_bytes_at_line_ends():
    lines = [f"第{i}条：" + "劳动者可以申请劳动仲裁。" * 5 for i in range(60)]
    text = "\n".join(lines)
    pieces = wechat.split_text(text)
    assert len(pieces) > 1
    assert all(wechat.utf8_len(p) <= 2048 for p in pieces)
    assert "\n".join(pieces) == text  # nothing lost, every cut at a line end


def test_a_single_huge_line_is_cut_between_characters_not_inside_one():
    text = "法" * 1000 + "🙂" * 10  # 3000 + 40 bytes, no line breaks
    pieces = wechat.split_text(text, 2048)
    assert "".join(pieces) == text
    assert all(wechat.utf8_len(p) <= 2048 for p in pieces)


def test_short_bot_messages_are_packed_into_one_wechat_message():
    assert wechat.pack(["您好", "请说说您遇到的事"]) == ["您好\n\n请说说您遇到的事"]
    many = wechat.pack(["字" * 600, "字" * 600])  # 1800 bytes each
    assert len(many) == 2


def test_buttons_become_numbered_choices_with_a_hint():
    texts, payloads = wechat.render_turn(TRIAGE_TURN, "回复数字即可")
    assert len(texts) == 1
    assert texts[0].endswith("1. 申请法律援助\n2. 常见问题\n3. 转人工\n回复数字即可")
    assert texts[0].startswith("您说的属于【劳动争议】")
    assert payloads == ["/apply_legal_aid", "/ask_category_faq", "/request_human"]


def test_numbers_run_on_across_messages_of_one_turn():
    turn = [
        {"text": "是哪一类？", "buttons": [{"title": "劳动争议", "payload": "/a"}]},
        {"text": "或者", "buttons": [{"title": "工伤", "payload": "/b"}]},
    ]
    texts, payloads = wechat.render_turn(turn, "回复数字即可")
    assert "1. 劳动争议" in texts[0] and "2. 工伤\n回复数字即可" in texts[0]
    assert texts[0].count("回复数字即可") == 1
    assert payloads == ["/a", "/b"]


def test_a_turn_without_buttons_has_no_hint():
    texts, payloads = wechat.render_turn([{"text": "好的"}], "回复数字即可")
    assert texts == ["好的"] and payloads == []


@pytest.mark.parametrize(
    ("text", "number"),
    [("1", 1), ("１", 1), (" 2 ", 2), ("3。", 3), ("１２", 12), ("2.", 2)],
)
def test_half_and_full_width_digits_are_read_as_a_choice(text, number):
    assert wechat.choice_number(text) == number


@pytest.mark.parametrize("text", ["一", "1a", "123", "", "第1个", "1 2"])
def test_other_text_is_not_a_choice(text):
    assert wechat.choice_number(text) is None


def test_a_number_maps_to_that_users_last_offered_choice():
    choices = wechat.Choices()
    choices.remember("o-1", ["/apply_legal_aid", "/ask_category_faq"])
    assert choices.resolve("o-1", "１") == "/apply_legal_aid"
    assert choices.resolve("o-1", "2") == "/ask_category_faq"
    assert choices.resolve("o-1", "3") == "3"  # not offered: taken literally
    assert choices.resolve("o-2", "1") == "1"  # another user saw no choices
    choices.remember("o-1", [])  # a later turn without choices
    assert choices.resolve("o-1", "1") == "1"


def test_logs_use_a_short_stable_pseudonym_for_the_openid():
    assert wechat.short_hash("oyORnuP8q7ou2gfYjqLzSIWZf0rs") == wechat.short_hash(
        "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    )
    assert "oyORnu" not in wechat.short_hash("oyORnuP8q7ou2gfYjqLzSIWZf0rs")
    assert len(wechat.short_hash("x")) == 10


# --- customer-service API against the simulator --------------------------------


@pytest.fixture(scope="module")
def sim():
    s = WeChatSim().start()
    yield s
    s.stop()


def service(sim, secret=None):
    return wechat.CustomerService(
        sim.api_base, sim.account.appid, secret or sim.account.secret
    )


async def test_messages_share_one_cached_access_token(sim):
    sim.state.known_users.add("o-cache")
    api = service(sim)
    try:
        before = sim.state.token_fetches
        assert await api.send_texts("o-cache", ["第一条", "第二条", "第三条"])
        assert sim.state.token_fetches == before + 1
        assert sim.customer_service("o-cache") == ["第一条", "第二条", "第三条"]
    finally:
        await api.close()


async def test_an_expired_token_is_refreshed_once_and_the_message_still_arrives(sim):
    sim.state.known_users.add("o-expired")
    api = service(sim)
    try:
        assert await api.send_text("o-expired", "你好")
        sim.expire_tokens()
        before, rejected = sim.state.token_fetches, len(sim.state.rejections)
        assert await api.send_text("o-expired", "欠薪可以申请劳动仲裁")
        assert sim.state.token_fetches == before + 1
        assert sim.state.rejections[rejected:] == [42001]
        assert sim.customer_service("o-expired")[-1] == "欠薪可以申请劳动仲裁"
    finally:
        await api.close()


async def test_concurrent_sends_after_expiry_fetch_a_new_token_only_once(sim):
    sim.state.known_users.add("o-burst")
    api = service(sim)
    try:
        assert await api.send_text("o-burst", "0")
        sim.expire_tokens()
        before = sim.state.token_fetches
        results = await asyncio.gather(
            *(api.send_text("o-burst", str(i)) for i in range(5))
        )
        assert all(results)
        assert sim.state.token_fetches == before + 1
    finally:
        await api.close()


async def test_closed_48_hour_window_drops_the_message_and_logs_no_openid(sim, caplog):
    openid = "oWindowClosed0123456789abcd"
    sim.state.known_users.add(openid)
    sim.close_window(openid)
    api = service(sim)
    try:
        with caplog.at_level(logging.INFO, logger="bot.wechat"):
            assert not await api.send_texts(openid, ["一", "二"])
        assert sim.customer_service(openid) == []
        assert "48 h" in caplog.text
        assert openid not in caplog.text
    finally:
        sim.close_window(openid, closed=False)
        await api.close()


async def test_wrong_app_secret_is_reported_without_leaking_it(sim, caplog):
    sim.state.known_users.add("o-secret")
    api = service(sim, secret="wrong-secret-value")
    try:
        with caplog.at_level(logging.WARNING, logger="bot.wechat"):
            assert not await api.send_text("o-secret", "你好")
        assert "40125" in caplog.text
        assert "wrong-secret-value" not in caplog.text
    finally:
        await api.close()
