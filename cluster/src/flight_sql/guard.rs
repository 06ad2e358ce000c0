//! A Flight service in front of Ballista's Flight SQL frontend that holds every statement
//! to the session limits before the frontend parses it: a statement too long or too deep
//! for the planner's stack is refused, and planning and running it is bounded in time.

use std::time::Duration;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::{ActionCreatePreparedStatementRequest, Any, Command, ProstMessageExt};
use arrow_flight::{
    Action, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, PollInfo,
    SchemaResult, Ticket,
};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use bydelsfakta_scheduler_client::sql::limits::SqlLimits;

/// The Flight SQL action that plans a statement to be run later.
const CREATE_PREPARED_STATEMENT: &str = "CreatePreparedStatement";

/// Put before every statement: Ballista names a job after its statement's text, so the
/// watchdog knows Flight SQL's jobs by it (and so does an operator in the job list).
pub const MARKER: &str = "/* flight-sql */ ";

/// `inner`, with every statement checked against `limits` first.
pub struct Guarded<S> {
    inner: S,
    limits: SqlLimits,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, limits: SqlLimits) -> Self {
        Self { inner, limits }
    }

    /// Refuses a statement beyond the limits, and marks the others for the watchdog.
    fn admit(&self, sql: &mut String) -> Result<(), Status> {
        self.limits
            .check_shape(sql)
            .map_err(|e| Status::invalid_argument(format!("statement refused: {e}")))?;
        sql.insert_str(0, MARKER);
        Ok(())
    }

    /// Admits the statement a descriptor's command carries, if it carries one.
    fn admit_descriptor(&self, descriptor: &mut FlightDescriptor) -> Result<(), Status> {
        let Some(any) = Any::decode(descriptor.cmd.as_ref()).ok() else {
            return Ok(());
        };
        let cmd = match Command::try_from(any) {
            Ok(Command::CommandStatementQuery(mut query)) => {
                self.admit(&mut query.query)?;
                query.as_any()
            }
            Ok(Command::CommandStatementUpdate(mut update)) => {
                self.admit(&mut update.query)?;
                update.as_any()
            }
            _ => return Ok(()),
        };
        descriptor.cmd = cmd.encode_to_vec().into();
        Ok(())
    }

    /// Admits the statement of a `CreatePreparedStatement` action.
    fn admit_action(&self, action: &mut Action) -> Result<(), Status> {
        if action.r#type != CREATE_PREPARED_STATEMENT {
            return Ok(());
        }
        let request = Any::decode(action.body.as_ref())
            .ok()
            .and_then(|any| any.unpack::<ActionCreatePreparedStatementRequest>().ok())
            .flatten();
        if let Some(mut request) = request {
            self.admit(&mut request.query)?;
            action.body = request.as_any().encode_to_vec().into();
        }
        Ok(())
    }

    /// Runs `call` within the statement timeout.
    async fn bounded<T>(&self, call: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        let limit = self.limits.statement_timeout;
        tokio::time::timeout(limit, call)
            .await
            .unwrap_or_else(|_| Err(timed_out(limit)))
    }
}

/// The error of a statement stopped by the timeout; the watchdog cancels its job.
pub fn timed_out(limit: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "statement stopped after {} s (--flight-sql-timeout)",
        limit.as_secs_f64()
    ))
}

#[tonic::async_trait]
impl<S: FlightService> FlightService for Guarded<S> {
    type HandshakeStream = S::HandshakeStream;
    type ListFlightsStream = S::ListFlightsStream;
    type DoGetStream = S::DoGetStream;
    type DoPutStream = S::DoPutStream;
    type DoExchangeStream = S::DoExchangeStream;
    type DoActionStream = S::DoActionStream;
    type ListActionsStream = S::ListActionsStream;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        self.inner.handshake(request).await
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.inner.list_flights(request).await
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let mut request = request;
        self.admit_descriptor(request.get_mut())?;
        self.bounded(self.inner.get_flight_info(request)).await
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        let mut request = request;
        self.admit_descriptor(request.get_mut())?;
        self.bounded(self.inner.poll_flight_info(request)).await
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let mut request = request;
        self.admit_descriptor(request.get_mut())?;
        self.bounded(self.inner.get_schema(request)).await
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        self.inner.do_get(request).await
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        // Ballista refuses every write; nothing here to plan.
        self.inner.do_put(request).await
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        self.inner.do_exchange(request).await
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let mut request = request;
        self.admit_action(request.get_mut())?;
        self.bounded(self.inner.do_action(request)).await
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        self.inner.list_actions(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_flight::sql::{CommandGetCatalogs, CommandStatementQuery};

    fn guard() -> Guarded<()> {
        Guarded::new((), SqlLimits::flight_sql())
    }

    fn query(sql: &str) -> FlightDescriptor {
        let query = CommandStatementQuery {
            query: sql.into(),
            transaction_id: None,
        };
        FlightDescriptor::new_cmd(query.as_any().encode_to_vec())
    }

    #[test]
    fn statements_are_marked_or_refused() {
        let mut descriptor = query("SELECT 1");
        guard().admit_descriptor(&mut descriptor).unwrap();
        assert_eq!(descriptor, query("/* flight-sql */ SELECT 1"));

        let mut deep = query(&vec!["1"; 2000].join("+"));
        let err = guard().admit_descriptor(&mut deep).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("1999 operators"), "{err}");

        let catalogs = FlightDescriptor::new_cmd(CommandGetCatalogs {}.as_any().encode_to_vec());
        let mut same = catalogs.clone();
        guard().admit_descriptor(&mut same).unwrap();
        assert_eq!(same, catalogs);
    }

    #[test]
    fn prepared_statements_are_marked() {
        let action = |sql: &str| Action {
            r#type: CREATE_PREPARED_STATEMENT.into(),
            body: ActionCreatePreparedStatementRequest {
                query: sql.into(),
                transaction_id: None,
            }
            .as_any()
            .encode_to_vec()
            .into(),
        };
        let mut prepared = action("SELECT 2");
        guard().admit_action(&mut prepared).unwrap();
        assert_eq!(prepared, action("/* flight-sql */ SELECT 2"));
    }
}
